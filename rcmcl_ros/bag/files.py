"""rosbag2 files through `rosbags` (no ROS install needed): write (mcap by default, sqlite3 accepted), read
in record order, and map the node's streams to a bag's topics (docs/ARCHITECTURE.md, "Bags and replay").

Messages are written from rclpy or rosbags message objects, or as raw CDR bytes. They are read back as
raw bytes (the player publishes those unchanged) or as rosbags message objects, which rcmcl_ros.conversions
reads as it reads rclpy messages (by attribute), so the node and the offline evaluation share one
conversion path.

Every failure to open or read a bag is a BagError whose text is one line naming the bag and the cause.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

STORAGES = ("mcap", "sqlite3")
"""Storage formats the writer produces (the reader also opens a single .mcap or .db3 file)."""
GROUND_TRUTH_TOPIC = "/rcmcl/ground_truth"
"""std_msgs/String: the class being performed, stamped (recorded) at bag time."""
FAULT_TOPIC = "/rcmcl/fault"
"""std_msgs/String: one JSON object per scripted sensor fault, recorded at its start (see demo_bag.Fault)."""
STREAM_TYPES = {"rgb": "sensor_msgs/msg/Image", "depth": "sensor_msgs/msg/Image",
                "points": "sensor_msgs/msg/PointCloud2", "skeleton": "visualization_msgs/msg/MarkerArray"}
"""The message type each input stream of the node takes."""
DEFAULT_TOPICS = {"rgb": "/rgb/image_raw", "depth": "/depth_to_rgb/image_raw", "points": "/points2",
                  "skeleton": "/body_tracking_data"}
"""Stream -> topic: the node's default (Azure Kinect driver) topics, resolved in the root namespace.
test_bag checks that they equal node_params.NodeConfig's (importing that here would pull in torch)."""
NS_PER_S = 1_000_000_000


class BagError(RuntimeError):
    """A bag cannot be opened, read or written; str() is one line naming the bag and the cause."""


@dataclass(frozen=True)
class BagMessage:
    """One recorded message: raw CDR bytes as stored, record time in nanoseconds (bag time)."""

    topic: str
    msgtype: str
    record_ns: int
    raw: bytes

    @property
    def record_s(self) -> float:
        return self.record_ns / NS_PER_S


@dataclass(frozen=True)
class TopicInfo:
    msgtype: str
    count: int


def parse_topic_map(items: Iterable[str], *, base: dict[str, str] | None = None) -> dict[str, str]:
    """['rgb:=/cam/color', ...] -> {stream: topic}, starting from `base` (default DEFAULT_TOPICS). A topic
    without a leading '/' gets one (bags store absolute names). ValueError names a bad item."""
    topics = dict(DEFAULT_TOPICS if base is None else base)
    for item in items:
        stream, sep, topic = item.partition(":=")
        if not sep or not topic.strip("/"):
            raise ValueError(f"topic mapping must look like STREAM:=/topic, got {item!r}")
        if stream not in STREAM_TYPES:
            raise ValueError(f"unknown stream {stream!r} in {item!r}; streams are {', '.join(STREAM_TYPES)}")
        topics[stream] = topic if topic.startswith("/") else f"/{topic}"
    return topics


@lru_cache(maxsize=1)
def typestore() -> Any:
    """rosbags' typestore of the ROS 2 distribution the rclpy wheels here come from (Kilted). Standard
    message layouts are the same across distributions, so bags recorded on Humble or Jazzy read too."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def serialize(msg: Any, msgtype: str) -> bytes:
    """rclpy or rosbags message of `msgtype` -> CDR bytes as rosbags writes them; bytes pass through.

    rclpy's serialiser leaves alignment padding uninitialised (bytes of process memory that differ run to
    run), so its output is decoded and re-encoded by rosbags, which zeroes padding: equal messages give
    equal bytes and bags are reproducible bit for bit."""
    if isinstance(msg, (bytes, bytearray, memoryview)):
        return bytes(msg)
    store = typestore()
    if getattr(msg, "__msgtype__", None) is None:
        from rclpy.serialization import serialize_message

        msg = store.deserialize_cdr(serialize_message(msg), msgtype)
    return bytes(store.serialize_cdr(msg, msgtype))


class BagWriter:
    """Context manager writing one rosbag2 directory. The bag is built in a hidden sibling folder and moved
    to `path` only when complete, so `path` never holds half a bag; an existing `path` is an error.

        with BagWriter(path) as bag:
            bag.add_topic("/points2", "sensor_msgs/msg/PointCloud2")
            bag.write("/points2", stamp_ns, cloud_msg)
    """

    def __init__(self, path: str | Path, *, storage: str = "mcap", compress: bool = True) -> None:
        if storage not in STORAGES:
            raise BagError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        self.storage = storage
        self.compress = compress and storage == "mcap"
        self._staging = self.path.parent / f".{self.path.name}.partial-{os.getpid()}"
        self._writer: Any = None
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> "BagWriter":
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

        if self.path.exists():
            raise BagError(f"cannot write bag {self.path}: it exists already")
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging.mkdir(parents=True)
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self._staging / self.path.name, version=Writer.VERSION_LATEST, storage_plugin=plugin)
        if self.compress:   # mcap chunk compression: what `ros2 bag record --compression-mode storage` writes
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self._writer.open()
        return self

    def add_topic(self, topic: str, msgtype: str, *, latched: bool = False) -> None:
        """Declare a topic before writing to it; latched topics record transient-local QoS (e.g. /tf_static)."""
        qos = [_latched_qos()] if latched else []
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=typestore(),
                                                               offered_qos_profiles=qos)
        self.counts[topic] = 0

    def write(self, topic: str, stamp_ns: int, msg: Any) -> None:
        """Record `msg` (rclpy or rosbags message, or CDR bytes) on `topic` at bag time stamp_ns."""
        if topic not in self._connections:
            raise BagError(f"cannot write to {topic} in {self.path}: add_topic it first")
        connection = self._connections[topic]
        self._writer.write(connection, int(stamp_ns), serialize(msg, connection.msgtype))
        self.counts[topic] += 1

    def set_custom_data(self, key: str, value: str) -> None:
        """A string stored in metadata.yaml (custom_data), readable without reading messages."""
        self._writer.set_custom_data(key, value)

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        writer, self._writer = self._writer, None
        try:
            if kind is None:
                writer.close()
                os.replace(self._staging / self.path.name, self.path)
            else:
                writer.abort()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)


def _latched_qos() -> Any:
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    never = QosTime(sec=0, nsec=0)
    return Qos(history=QosHistory.KEEP_LAST, depth=1, reliability=QosReliability.RELIABLE,
               durability=QosDurability.TRANSIENT_LOCAL, deadline=never, lifespan=never,
               liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=never,
               avoid_ros_namespace_conventions=False)


class BagReader:
    """Context manager over a rosbag2 directory (mcap or sqlite3) or a single .mcap / .db3 file.

        with BagReader(path) as bag:
            for message in bag.messages(["/points2"]):
                cloud = bag.deserialize(message)        # rosbags message object
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader: Any = None
        self._registered: set[str] = set()

    def __enter__(self) -> "BagReader":
        from rosbags.rosbag2 import Reader

        if not self.path.exists():
            raise BagError(f"bag not found: {self.path}")
        if self.path.is_file() and self.path.suffix not in (".mcap", ".db3"):
            suffix = self.path.suffix or "(no suffix)"
            raise BagError(f"cannot read bag {self.path}: unknown storage format {suffix!r}; expected a rosbag2 "
                           f"folder, an .mcap or a .db3 file")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as error:  # rosbags raises ReaderError, OSError, struct/zstd errors, KeyError ...
            self._reader = None
            hint = " (the file is cut off or is not an mcap file)" if "magic" in str(error).lower() else ""
            raise BagError(f"cannot read bag {self.path}: {_one_line(error)}{hint}") from error
        return self

    def __exit__(self, *_exc: Any) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception:  # closing a damaged file must not hide the error that got us here
                pass

    @property
    def topics(self) -> dict[str, TopicInfo]:
        return {name: TopicInfo(msgtype=info.msgtype or "", count=info.msgcount)
                for name, info in self._reader.topics.items()}

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time) if self._reader.message_count else 0

    @property
    def end_ns(self) -> int:
        """Record time of the last message (rosbags reports one ns past it)."""
        return int(self._reader.end_time) - 1 if self._reader.message_count else 0

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / NS_PER_S

    @property
    def message_count(self) -> int:
        return int(self._reader.message_count)

    @property
    def custom_data(self) -> dict[str, str]:
        """metadata.yaml custom_data of a bag directory ({} for a bare storage file)."""
        metadata = getattr(self._reader.storage, "metadata", None)
        return dict(getattr(metadata, "custom", None) or {})

    def messages(self, topics: Iterable[str] | None = None, *,
                 on_damage: Callable[[str], None] | None = None) -> Iterator[BagMessage]:
        """Messages of `topics` (None: all) in record order. A read error part-way (a truncated or corrupt
        file) calls on_damage(one-line message) and ends the iteration, or raises BagError without it."""
        wanted = None if topics is None else set(topics)
        connections = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        if not connections:
            return
        count, last_ns = 0, self.start_ns
        iterator = self._reader.messages(connections=connections)
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except Exception as error:  # damaged data: say where reading stopped
                where = f"after {count} messages ({(last_ns - self.start_ns) / NS_PER_S:.2f} s)"
                message = f"bag {self.path} is damaged {where}: {_one_line(error)}"
                if on_damage is None:
                    raise BagError(message) from error
                on_damage(message)
                return
            connection, record_ns, raw = item
            count, last_ns = count + 1, record_ns
            yield BagMessage(topic=connection.topic, msgtype=connection.msgtype, record_ns=int(record_ns),
                             raw=bytes(raw))

    def deserialize(self, message: BagMessage) -> Any:
        """Raw CDR -> rosbags message object. Types the typestore lacks are registered from the bag's own
        message definitions. Raises BagError when the bytes do not decode as the recorded type."""
        store = typestore()
        if message.msgtype not in store.fielddefs and message.msgtype not in self._registered:
            self._register(message.msgtype)
        try:
            return store.deserialize_cdr(message.raw, message.msgtype)
        except Exception as error:
            raise BagError(f"cannot decode a {message.msgtype} message on {message.topic} at "
                           f"{message.record_s:.3f} s in {self.path}: {_one_line(error)}") from error

    def _register(self, msgtype: str) -> None:
        from rosbags.typesys import get_types_from_idl, get_types_from_msg

        self._registered.add(msgtype)
        for connection in self._reader.connections:
            if connection.msgtype != msgtype or not connection.msgdef.data:
                continue
            try:
                text = connection.msgdef.data
                types = get_types_from_idl(text) if text.startswith("=" * 80 + "\nIDL: ") else \
                    get_types_from_msg(text, msgtype)
                typestore().register(types)
            except Exception as error:
                raise BagError(f"cannot use the definition of {msgtype} stored in {self.path}: "
                               f"{_one_line(error)}") from error
            return


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()).replace("; please report issue.", "") or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
