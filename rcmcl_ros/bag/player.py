"""Play a rosbag2 into the live ROS graph with /clock, as `ros2 bag play --clock` does (the ros2 CLI is not
installable here), so nodes run on the bag's time with `use_sim_time`.

Messages go out as the bytes the bag holds (no decoding), at their record times scaled by `rate`; /clock
(rosgraph_msgs/Clock) is published before each message and at `clock_hz` in between. `--drop TOPIC@T0-T1`
withholds a topic over a span of bag time (seconds from the start), to show dropout live; `--remap` renames
topics. With `loop` the bag starts over and the clock jumps back to its start (the node's synchroniser
resets on stamps going backwards). Topics whose message package is not installed (often tf2_msgs) are
skipped with a note.

    python -m rcmcl_ros play BAG [--rate R] [--loop] [--drop /points2@5-9] [--remap /points2:=/cam/points]
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcmcl_ros.bag.files import NS_PER_S, BagError, BagReader

LATCHED_TOPICS = ("/tf_static",)
"""Published transient-local (late subscribers still get them), as the driver does."""
NODE_NAME = "rcmcl_bag_player"


@dataclass(frozen=True)
class TopicDrop:
    """Withhold `topic` over [start_s, end_s) seconds from the bag start."""

    topic: str
    start_s: float
    end_s: float

    def covers(self, topic: str, t_s: float) -> bool:
        return topic == self.topic and self.start_s <= t_s < self.end_s


def parse_drop(text: str) -> TopicDrop:
    """'/points2@5-9' -> TopicDrop; ValueError says the expected form."""
    topic, sep, span = text.rpartition("@")
    start, dash, end = span.partition("-")
    try:
        drop = TopicDrop(topic=topic if topic.startswith("/") else f"/{topic}", start_s=float(start), end_s=float(end))
    except ValueError:
        drop = None
    if not (sep and dash and topic) or drop is None or not 0 <= drop.start_s < drop.end_s:
        raise ValueError(f"--drop must look like TOPIC@START-END (seconds from the bag start, START < END), "
                         f"e.g. /points2@5-9; got {text!r}")
    return drop


def parse_remap(text: str) -> tuple[str, str]:
    """'/old:=/new' -> ('/old', '/new')."""
    old, sep, new = text.partition(":=")
    if not sep or not old.strip("/") or not new.strip("/"):
        raise ValueError(f"--remap must look like /old_topic:=/new_topic, got {text!r}")
    return (old if old.startswith("/") else f"/{old}", new if new.startswith("/") else f"/{new}")


@dataclass
class PlayerConfig:
    rate: float = 1.0                 # bag seconds per wall second
    loop: bool = False
    drops: tuple[TopicDrop, ...] = ()
    remaps: dict[str, str] = field(default_factory=dict)
    clock_hz: float = 50.0            # /clock rate between messages
    delay_s: float = 1.0              # wall seconds between creating publishers and the first message (discovery)

    def validate(self) -> "PlayerConfig":
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if not self.clock_hz > 0:
            raise ValueError(f"clock_hz must be > 0, got {self.clock_hz}")
        if self.delay_s < 0:
            raise ValueError(f"delay must be >= 0 s, got {self.delay_s}")
        return self


@dataclass
class PlayStats:
    published: int = 0
    dropped: int = 0                  # withheld by --drop
    skipped_topics: tuple[str, ...] = ()
    loops: int = 0
    wall_s: float = 0.0


def message_class(msgtype: str) -> Any:
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image; None when the package is not installed."""
    package, _, name = msgtype.rpartition("/")
    try:
        return getattr(importlib.import_module(package.replace("/", ".")), name)
    except (ImportError, AttributeError, ValueError):
        return None


class BagPlayer:
    """Publishes one bag from `node` (any rclpy node; it needs no executor: publishing only)."""

    def __init__(self, *, node: Any, bag: str | Path, config: PlayerConfig | None = None) -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock

        self.node, self.path, self.config = node, Path(bag), (config or PlayerConfig()).validate()
        with BagReader(self.path) as reader:
            topics = reader.topics
            self.start_ns, self.end_ns = reader.start_ns, reader.end_ns
        self.publishers: dict[str, Any] = {}
        skipped = []
        for topic, info in sorted(topics.items()):
            kind = message_class(info.msgtype)
            if kind is None:
                skipped.append(f"{topic} ({info.msgtype})")
                continue
            latched = topic in LATCHED_TOPICS
            qos = QoSProfile(depth=1 if latched else 10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
            self.publishers[topic] = node.create_publisher(kind, self.config.remaps.get(topic, topic), qos)
        self.clock_publisher = node.create_publisher(Clock, "/clock", 10)
        self._clock_class = Clock
        self.stats = PlayStats(skipped_topics=tuple(skipped))

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S

    def play(self, stop: threading.Event | None = None) -> PlayStats:
        """Publish until the bag ends (or forever with loop) or `stop` is set. Raises BagError on a bag
        that cannot be read; a bag damaged part-way plays up to the damage."""
        stop = stop or threading.Event()
        started = time.monotonic()
        if stop.wait(self.config.delay_s):
            return self.stats
        while not stop.is_set():
            self._play_once(stop)
            if not self.config.loop:
                break
            self.stats.loops += 1
        self.stats.wall_s = time.monotonic() - started
        return self.stats

    def _play_once(self, stop: threading.Event) -> None:
        wall0 = time.monotonic()
        with BagReader(self.path) as reader:
            for message in reader.messages(list(self.publishers), on_damage=self._warn):
                offset_s = (message.record_ns - self.start_ns) / NS_PER_S
                if any(drop.covers(message.topic, offset_s) for drop in self.config.drops):
                    self.stats.dropped += 1
                    continue
                if not self._wait_until(wall0 + offset_s / self.config.rate, wall0, stop):
                    return
                self._publish_clock(message.record_ns)
                self.publishers[message.topic].publish(message.raw)
                self.stats.published += 1

    def _wait_until(self, target_wall: float, wall0: float, stop: threading.Event) -> bool:
        """Sleep until target_wall, publishing /clock at clock_hz; False when stopped."""
        period = 1.0 / self.config.clock_hz
        while True:
            now = time.monotonic()
            if now >= target_wall:
                return not stop.is_set()
            self._publish_clock(self.start_ns + int((now - wall0) * self.config.rate * NS_PER_S))
            if stop.wait(min(period, target_wall - now)):
                return False

    def _publish_clock(self, stamp_ns: int) -> None:
        from builtin_interfaces.msg import Time

        self.clock_publisher.publish(self._clock_class(clock=Time(sec=stamp_ns // NS_PER_S,
                                                                  nanosec=stamp_ns % NS_PER_S)))

    def _warn(self, text: str) -> None:
        self.node.get_logger().warning(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rcmcl_ros play",
                                description="Publish a rosbag2 into the live ROS graph with /clock (run nodes with "
                                            "use_sim_time:=true). Arguments after --ros-args go to rclpy.")
    p.add_argument("bag", type=Path, help="rosbag2 folder, .mcap or .db3 file")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    p.add_argument("--loop", action="store_true", help="start over at the end (the clock jumps back)")
    p.add_argument("--drop", action="append", default=[], type=_argument(parse_drop), metavar="TOPIC@T0-T1",
                   help="withhold TOPIC from T0 to T1 seconds after the bag start (repeatable)")
    p.add_argument("--remap", action="append", default=[], type=_argument(parse_remap), metavar="OLD:=NEW",
                   help="publish topic OLD as NEW (repeatable)")
    p.add_argument("--clock-hz", type=float, default=PlayerConfig.clock_hz, help="/clock rate between messages")
    p.add_argument("--delay", type=float, default=PlayerConfig.delay_s,
                   help="seconds to wait before the first message, for subscribers to connect (default 1)")
    return p


def _argument(parse: Any) -> Any:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = parse.__name__.replace("parse_", "")
    return convert


def parse_arguments(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(player arguments, ROS arguments): everything from --ros-args on is rclpy's (launch files append
    `--ros-args -r __node:=NAME ...`)."""
    cut = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    return build_parser().parse_args(argv[:cut]), list(argv[cut:])


def play_command(argv: list[str]) -> int:
    """`python -m rcmcl_ros play`: 0 when the bag was played (or SIGTERM stopped it), 2 on a bad bag or
    argument, 130 on Ctrl-C."""
    args, ros_args = parse_arguments(argv)
    try:
        config = PlayerConfig(rate=args.rate, loop=args.loop, drops=tuple(args.drop), remaps=dict(args.remap),
                              clock_hz=args.clock_hz, delay_s=args.delay).validate()
        with BagReader(args.bag):      # a bad bag answers before ROS starts
            pass
    except (ValueError, BagError) as error:
        print(f"play: error: {error}", file=sys.stderr)
        return 2
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    # Ctrl-C and SIGTERM stop playback between messages; rclpy's own handlers would invalidate the context
    # under a publish in flight.
    rclpy.init(args=["rcmcl_play", *ros_args], signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    interrupted = []
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda signum, _frame: (interrupted.append(signum), stop.set()))
    node = rclpy.create_node(NODE_NAME)
    try:
        player = BagPlayer(node=node, bag=args.bag, config=config)
        for skipped in player.stats.skipped_topics:
            print(f"play: skipping {skipped}: its message package is not installed", file=sys.stderr)
        print(f"play: {args.bag}: {player.duration_s:.1f} s on {len(player.publishers)} topics at rate "
              f"{config.rate:g}{', looping' if config.loop else ''}, with /clock", flush=True)
        stats = player.play(stop)
        print(f"play: {'stopped' if interrupted else 'done'}, {stats.published} messages published, "
              f"{stats.dropped} withheld by --drop, {stats.wall_s:.1f} s", flush=True)
        return 130 if signal.SIGINT in interrupted else 0
    except BagError as error:
        print(f"play: error: {error}", file=sys.stderr)
        return 2
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
