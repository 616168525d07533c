"""One chaos run: the broker, the topics, the group, the traffic, the schedule, the report."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from consumer.config.paths import default_model_path
from consumer.devkit.broker import EmbeddedBroker, create_topics
from consumer.devkit.chaos.accounting import AppliedFault, ChaosReport, account
from consumer.devkit.chaos.members import Members, rewrite_model, serving_model
from consumer.devkit.chaos.observe import GroupProbe, Timeline
from consumer.devkit.chaos.schedule import KINDS, Fault, fault_schedule
from consumer.devkit.chaos.traffic import InputStream, OutputReader
from consumer.devkit.harness import RUN, WorkerError, worker_environment

__all__ = ["ChaosConfig", "run_chaos"]


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    seed: int
    out_dir: Path
    strategy: str = "cooperative-sticky"
    records: int = 30_000
    rate: float = 1_500.0
    partitions: int = 6
    workers: int = 2
    #: Share of the input that is hostile (dead-lettered).
    hostile_share: float = 0.005
    gap_s: tuple[float, float] = (4.0, 8.0)
    kinds: tuple[str, ...] = KINDS
    #: Exactly these faults in this order (the seed then draws only times and victims).
    sequence: tuple[str, ...] | None = None
    #: How long a joining member stays once it has subscribed.
    join_hold_s: float = 4.0
    #: A partition with work that processes nothing new for longer than this is stalled. A
    #: kill (on the embedded broker a stop too) is taken in after the session timeout (6 s)
    #: and a join (about 3 s); faults 4-8 s apart overlap (docs/reliability.md).
    stall_bound_s: float = 45.0
    #: After the stream and the schedule: the longest wait for the last outputs.
    drain_timeout_s: float = 240.0
    #: Once stalled, keep observing (logs, describe) this long before stopping the workers.
    hold_stuck_s: float = 0.0
    #: librdkafka debug contexts for the workers (`cgrp,protocol`); also sets LOG_LEVEL=DEBUG.
    debug: str = ""
    model: Path | None = None
    #: More librdkafka properties for the workers.
    kafka: Mapping[str, str] = field(default_factory=dict)
    #: More environment variables for the workers.
    settings: Mapping[str, str] = field(default_factory=dict)
    shutdown_timeout_s: float = 10.0
    #: What follows the interpreter to start a member: the worker (`RUN`), or another
    #: member of the same shape for experiments (a bare librdkafka consumer).
    member_argv: tuple[str, ...] = RUN

    def schedule(self) -> list[Fault]:
        return fault_schedule(
            self.seed,
            self.records / self.rate,
            gap_s=self.gap_s,
            kinds=self.kinds,
            sequence=self.sequence,
            members=self.workers,
        )

    def worker_settings(self, topics: _Topics, model: Path) -> dict[str, str]:
        return {
            "INPUT_TOPIC": topics.input,
            "OUTPUT_TOPIC": topics.output,
            "DLQ_TOPIC": topics.dlq,
            "GROUP_ID": topics.group,
            "MODEL_PATH": str(model),
            "MODEL_RELOAD_INTERVAL_S": "1",
            "METRICS_PORT": "0",
            "LOG_LEVEL": "DEBUG" if self.debug else "INFO",
            "SHUTDOWN_TIMEOUT_S": str(self.shutdown_timeout_s),
            **self.settings,
        }

    def kafka_properties(self) -> dict[str, str]:
        properties = {"partition.assignment.strategy": self.strategy, **self.kafka}
        if self.debug:
            properties["debug"] = self.debug
        return properties


@dataclass(frozen=True, slots=True)
class _Topics:
    input: str
    output: str
    dlq: str
    group: str

    @classmethod
    def fresh(cls, seed: int) -> _Topics:
        suffix = f"{seed}-{uuid.uuid4().hex[:6]}"
        return cls(
            f"chaos-in-{suffix}", f"chaos-out-{suffix}", f"chaos-dlq-{suffix}", f"chaos-{suffix}"
        )


class _Faults:
    """Applies the schedule's faults to the group, recording each as it happened."""

    def __init__(self, members: Members, model: Path, steady: list[str], hold_s: float) -> None:
        self.members, self.model, self.steady, self.hold_s = members, model, steady, hold_s
        self.applied: list[AppliedFault] = []
        self._visits: list[threading.Thread] = []

    def apply(self, fault: Fault) -> AppliedFault:
        members, at_ms = self.members, int(time.time() * 1000)
        name = self.steady[fault.member]
        if fault.kind == "kill":
            applied = AppliedFault("kill", at_ms, members.kill(name))
            members.start(name)
        elif fault.kind == "term":
            label = members.current[name]
            members.term(label)
            members.start(name)
            applied = AppliedFault("term", at_ms, label)
        elif fault.kind == "join":
            label = members.start("joiner")
            visit = threading.Thread(target=members.visit, args=(label, self.hold_s), daemon=True)
            visit.start()
            self._visits.append(visit)
            applied = AppliedFault("join", at_ms, label)
        else:
            version = rewrite_model(self.model, 1 + sum(f.kind == "reload" for f in self.applied))
            applied = AppliedFault("reload", at_ms, detail=version)
        self.applied.append(applied)
        members.timeline.add("fault", **asdict(applied))
        return applied

    def settle(self) -> None:
        """Wait for the joiners' visits to end."""
        for visit in self._visits:
            visit.join()


def _wait_until(deadline: float) -> None:
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(remaining, 0.1))


@contextlib.contextmanager
def _broker(bootstrap: str | None, log_path: Path) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    with EmbeddedBroker(log_path=log_path) as broker:
        yield broker.bootstrap_servers


def run_chaos(config: ChaosConfig, bootstrap: str | None = None) -> ChaosReport:
    """One chaos run on the embedded broker, or on the one at `bootstrap`. Its folder gets the
    timeline, each member's log, the broker's log and `report.json`."""
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    report = ChaosReport(config.seed, config.strategy, stall_bound_s=config.stall_bound_s)
    faults, topics = config.schedule(), _Topics.fresh(config.seed)
    timeline = Timeline(out / "timeline.jsonl")
    timeline.add(
        "run",
        config={**asdict(config), "out_dir": str(out)},
        schedule=[asdict(f) for f in faults],
        topics=asdict(topics),
    )
    with _broker(bootstrap, out / "broker.log") as servers:
        partitions = config.partitions
        create_topics(
            servers, [(topics.input, partitions), (topics.output, partitions), (topics.dlq, 1)]
        )
        model = serving_model(config.model or default_model_path(), out / "model")
        env = worker_environment(
            servers, config.worker_settings(topics, model), kafka=config.kafka_properties()
        )
        members = Members(env, out, timeline, config.shutdown_timeout_s, config.member_argv)
        steady = [f"m{i}" for i in range(config.workers)]
        _form_group(members, steady, timeline)
        reader = OutputReader(servers, topics.input, topics.output, topics.dlq, partitions)
        probe = GroupProbe(servers, topics.group, topics.input, partitions, timeline, members.ports)
        stream = InputStream(
            servers, topics.input, config.records, config.rate, config.hostile_share, config.seed
        )
        injector = _Faults(members, model, steady, config.join_hold_s)
        try:
            reader.start()
            probe.start()
            stream.start()
            began = stream.wait_started()
            timeline.add("stream started", records=config.records, rate=config.rate)
            for fault in faults:
                _wait_until(began + fault.at_s)
                injector.apply(fault)
            stream.join()
            injector.settle()
            timeline.add("stream done", acknowledged=len(stream.sent), failures=stream.failures)
            report.stuck = _drain(len(stream.sent), reader, probe, timeline, config)
            if report.stuck and config.hold_stuck_s:
                _wait_until(time.monotonic() + config.hold_stuck_s)
                probe.snapshot("stuck, after holding")
            report.committed_end = {str(p): o for p, o in probe.committed_offsets().items()}
        finally:
            stream.stop()
            members.stop_all()
            ended_ms = int(time.time() * 1000)
            time.sleep(1.0)  # the last outputs of the members' drain
            reader.stop()
            probe.stop()
            timeline.add("run ended", exit_codes=members.exit_codes)
            timeline.close()
    report.input_end = {str(p): end for p, end in sorted(stream.ends().items())}
    report.exit_codes = members.exit_codes
    report.elapsed_s = round(time.time() - timeline.started, 1)
    account(stream.sent, reader.outputs, injector.applied, ended_ms, stream.started_ms, report)
    (out / "report.json").write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2))
    return report


def _form_group(members: Members, steady: list[str], timeline: Timeline) -> None:
    """Start the steady members and wait until each has partitions: the stream starts on a
    formed group, so that the first join is not counted as a fault's stall."""
    for name in steady:
        members.start(name)
    for name in steady:
        with contextlib.suppress(WorkerError):
            members.processes[members.current[name]].wait_for_event(
                "partitions assigned", timeout_s=60
            )
    timeline.add("group formed")


def _drain(
    total: int, reader: OutputReader, probe: GroupProbe, timeline: Timeline, config: ChaosConfig
) -> bool:
    """Wait until every input has an output: False once they all have, True (stuck) when
    nothing new came for `stall_bound_s` or the drain timed out."""
    deadline = time.monotonic() + config.drain_timeout_s
    while time.monotonic() < deadline:
        if len(reader.done) >= total:
            timeline.add("drained", outputs=len(reader.outputs))
            return False
        if time.monotonic() - reader.last_new > config.stall_bound_s:
            break
        time.sleep(0.25)
    idle_s = round(time.monotonic() - reader.last_new, 1)
    timeline.add("stuck", waiting=total - len(reader.done), idle_s=idle_s)
    probe.snapshot("stuck")
    return True
