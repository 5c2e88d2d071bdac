"""`quanzu simulate`: one run, a paired comparison (`--compare a.yaml b.yaml`) or a staffing
search (`--staffing-target 0.95`), with a progress bar, a summary table and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from quanzu.config import Settings

if TYPE_CHECKING:
    from quanzu.simulation.scenario import Scenario
    from quanzu.simulation.schemas import Comparison, RunResult, StaffingPlan

DEFAULT_OUT = Path("var") / "simulation-report.html"


def _with_days(scenario: Scenario, days: int | None) -> Scenario:
    return scenario if days is None else scenario.model_copy(update={"days": days})


def simulate(
    scenario: Annotated[
        Path | None, typer.Argument(help="scenario YAML (default: the calibrated Wujiang year)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same run)")] = 1,
    seeds: Annotated[int, typer.Option(help="seeds for --compare and --staffing-target")] = 5,
    days: Annotated[int | None, typer.Option(help="override the scenario's length in days")] = None,
    compare: Annotated[
        tuple[Path, Path] | None, typer.Option(help="compare two scenarios: --compare a.yaml b.yaml")
    ] = None,
    staffing_target: Annotated[
        float | None, typer.Option(help="smallest roster that reaches this share before the transfer")
    ] = None,
    out: Annotated[Path, typer.Option(help="the HTML report")] = DEFAULT_OUT,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the figures as JSON")] = None,
    db: Annotated[Path | None, typer.Option(help="keep the run's SQLite database here")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="replay every move through the real services (days, not years)")
    ] = False,
) -> None:
    """Replay a district year of warnings through the real routing, policy and KPI code (SimPy)."""
    from quanzu.simulation import report, service  # simpy, cpca: loaded only when simulating
    from quanzu.simulation.scenario import load_scenario

    console = Console()
    assets = Settings().web_assets_dir
    out.parent.mkdir(parents=True, exist_ok=True)
    if compare is not None:
        a, b = (_with_days(load_scenario(p), days) for p in compare)
        seed_list = list(range(seed, seed + seeds))
        with _bar(console) as bar:
            task = bar.add_task("比较", total=2 * len(seed_list))
            result, _, _ = service.compare(a, b, seed_list, lambda label, s: bar.advance(task))
            bar.update(task, completed=2 * len(seed_list))
        _comparison_table(console, result)
        out.write_text(report.comparison_report(result, a, b, assets), encoding="utf-8")
        payload = result.model_dump_json(indent=2)
    elif staffing_target is not None:
        sc = _with_days(load_scenario(scenario), days)
        seed_list = list(range(seed, seed + seeds))
        with _bar(console) as bar:
            task = bar.add_task("排班搜索", total=None)
            plan = service.staffing_search(
                sc, staffing_target, seed_list, progress=lambda m: bar.update(task, description=m)
            )
        _staffing_table(console, plan)
        payload = plan.model_dump_json(indent=2)
    else:
        sc = _with_days(load_scenario(scenario), days)
        with _bar(console) as bar:
            task = bar.add_task("模拟", total=1.0)
            res = service.run(
                sc, seed, database=db, full=full, progress=lambda f: bar.update(task, completed=f)
            )
            bar.update(task, completed=1.0)
        _run_table(console, res)
        out.write_text(report.run_report(res, sc, assets), encoding="utf-8")
        payload = res.model_dump_json(indent=2)
    if json_out is not None:
        json_out.write_text(payload, encoding="utf-8")
    if staffing_target is None:
        console.print(f"report: {out}")


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _run_table(console: Console, res: RunResult) -> None:
    k, r = res.kpis, res.race
    t = Table(title=f"{res.scenario} · seed {res.seed} · {res.days} days · {res.seconds:.1f} s")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rows = [
        ("warnings", f"{r.warnings:,}"),
        ("reached before transfer", f"{r.reached_share:.1%}"),
        ("dissuaded", f"{k.dissuaded:,}"),
        ("money protected (yuan)", f"{k.money_protected:,}"),
        ("money lost (yuan)", f"{k.money_lost:,}"),
        ("median time to sign (s)", str(k.time_to_sign_s.median)),
        ("median time to first contact (s)", str(k.time_to_first_contact_s.median)),
        ("first-meeting success rate", str(k.first_meeting_success_rate)),
        ("escalated", f"{k.escalated:,}"),
        ("callbacks", f"{r.callbacks:,}"),
        ("outcomes", json.dumps(r.outcomes)),
        ("database", res.database),
    ]
    for row in rows:
        t.add_row(*row)
    console.print(t)


def _comparison_table(console: Console, c: Comparison) -> None:
    t = Table(title=f"A = {c.a}, B = {c.b}, seeds {c.seeds} (paired)")
    for col in ("metric", "A", "B", "B − A", "95% CI"):
        t.add_column(col)
    for name, parts in c.metrics.items():
        d = parts["b_minus_a"]
        t.add_row(
            name,
            f"{parts['a'].mean:.4g}",
            f"{parts['b'].mean:.4g}",
            f"{d.mean:+.4g}",
            f"[{d.low:+.4g}, {d.high:+.4g}]",
        )
    console.print(t)


def _staffing_table(console: Console, plan: StaffingPlan) -> None:
    t = Table(
        title=f"target {plan.target_share:.1%}: {'met' if plan.met else 'NOT met'} ({plan.reached_share:.2%})"
    )
    for col in ("station", "00–08", "08–16", "16–24"):
        t.add_column(col)
    for code, shifts in plan.roster.items():
        t.add_row(code, *map(str, shifts))
    console.print(t)
    console.print(
        f"{plan.total_shift_slots} dissuader shift slots a day "
        f"(the scenario's roster: {plan.baseline_shift_slots})"
    )
