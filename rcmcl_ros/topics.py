"""Topic naming rules shared by the node and the bag tools."""
from __future__ import annotations


def camera_info_beside(image_topic: str) -> str:
    """The camera_info topic in an image topic's namespace, as image_transport and camera drivers name it:
    '/rgb/image_raw' -> '/rgb/camera_info', 'image_raw' -> 'camera_info'."""
    namespace = image_topic.rsplit("/", 1)[0] if "/" in image_topic else ""
    return f"{namespace}/camera_info" if namespace else "camera_info"


def camera_info_roles(*, cloud: str | None, people: str | None) -> dict[str, set[str]]:
    """{camera_info topic: what it serves ("cloud": the depth-derived cloud, "people": the per-person crops)}
    for the topics given (None: not needed): one reader per topic, also when both use the same one."""
    roles: dict[str, set[str]] = {}
    for role, topic in (("cloud", cloud), ("people", people)):
        if topic:
            roles.setdefault(topic, set()).add(role)
    return roles
