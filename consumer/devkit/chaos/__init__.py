"""Chaos runs: a consumer group of real worker processes under a seeded schedule of faults.

A run starts the embedded broker (or uses the one at `KAFKA_BOOTSTRAP_SERVERS`), a group of
workers as operators start them (`consumer.devkit.harness`), and a producer that writes the
input topic at a fixed rate with hostile records mixed in (`traffic`). While the records flow,
a schedule drawn from a seed (`schedule`) hits the group every few seconds with one of:

- `kill`: a member is SIGKILLed (no revoke, no commit) and started again at once;
- `term`: a member is stopped with SIGTERM, and started again once it has exited;
- `join`: a third member joins, and leaves (SIGTERM) `join_hold_s` after it has subscribed;
- `reload`: a new model version is written to the folder the workers serve (hot reload).

Everything that happens goes to `timeline.jsonl` in the run's folder (`observe`: faults, the
group's committed offsets every second, what the broker says about the group, each member's
assigned partitions from its `/metrics`), beside each member's log and the broker's. At the
end every input offset is accounted for (`accounting`): at least one verdict or dead letter,
every hostile record dead-lettered and no valid one, the duplicates laid at the fault that
moved their partition, the progress after each fault (how long until every partition that
had work processed a new record) and the longest stall of any partition, measured from the
outputs' own times. `report.json` holds the figures.

From the command line (`--help` lists the options):

    python -m consumer.devkit.chaos --seed 7 --strategy cooperative-sticky
"""

from __future__ import annotations

from consumer.devkit.chaos.accounting import AppliedFault, ChaosReport, Input, Output, account
from consumer.devkit.chaos.observe import describe_group
from consumer.devkit.chaos.run import ChaosConfig, run_chaos
from consumer.devkit.chaos.schedule import KINDS, MOVES, Fault, fault_schedule
from consumer.devkit.chaos.traffic import HOSTILE

__all__ = [
    "HOSTILE",
    "KINDS",
    "MOVES",
    "AppliedFault",
    "ChaosConfig",
    "ChaosReport",
    "Fault",
    "Input",
    "Output",
    "account",
    "describe_group",
    "fault_schedule",
    "run_chaos",
]
