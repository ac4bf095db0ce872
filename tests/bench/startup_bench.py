"""Benchmark: start-up (DESIGN §5), each against a reference measured in the same run.

    .venv/bin/python -m tests.bench.startup_bench      (or: make bench)

1. ``sipe-setup --help`` and ``sipe-setup --version`` against ``python -c pass`` (the same
   interpreter): exec to exit. Target: ``--help`` ≤ 60 ms.
2. The wizard's cold start — a fresh interpreter until its first page is shown and painted —
   against a fresh interpreter showing a bare one-page ``QWizard`` (offscreen), with the peak
   RSS of each. Targets: ratio ≤ 1.5; the first page's peak RSS ≤ 70 MiB.

Runs are interleaved (reference, then ours) and the medians printed.
"""

from __future__ import annotations

import argparse
import os
import statistics

from tests.bench.support import VENV_BIN, ChildRun, median_ms, python_env, run_child

_BARE_WIZARD = """
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWizard, QWizardPage
app = QApplication([])
wizard = QWizard()
page = QWizardPage()
page.setTitle("Account")
QVBoxLayout(page).addWidget(QLabel("Sign-in address"))
wizard.addPage(page)
wizard.resize(760, 600)
wizard.show(); wizard.repaint(); app.processEvents()
print("shown", flush=True)
"""

# What sipe-setup-gui does up to the first page (run_wizard without the event loop).
_OUR_WIZARD = """
from PySide6.QtWidgets import QApplication
from sipe_setup.gui.app import build_parser, make_wizard
app = QApplication([])
wizard = make_wizard(build_parser().parse_args([]), settings_enabled=False)
wizard.show(); wizard.repaint(); app.processEvents()
assert wizard.currentPage() is not None and wizard.currentPage().isVisible()
print("shown", flush=True)
"""


def _checked(run: ChildRun) -> ChildRun:
    if run.returncode != 0:
        raise SystemExit(f"a child failed ({run.returncode}):\n{run.output[-2000:]}")
    return run


def cli(runs: int) -> None:
    python = str(VENV_BIN / "python")
    exe = str(VENV_BIN / "sipe-setup")
    env = {k: v for k, v in python_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    base: list[float] = []
    helps: list[float] = []
    versions: list[float] = []
    for _ in range(runs):
        base.append(_checked(run_child([python, "-c", "pass"], env=env)).wall)
        helps.append(_checked(run_child([exe, "--help"], env=env)).wall)
        versions.append(_checked(run_child([exe, "--version"], env=env)).wall)
    reference = statistics.median(base)
    print(f"CLI start-up, exec to exit (median of {runs}):")
    print(f"  python -c pass          {median_ms(base)}")
    for label, values in (("sipe-setup --help", helps), ("sipe-setup --version", versions)):
        print(f"  {label:<22}  {median_ms(values)}   "
              f"{statistics.median(values) / reference:4.1f}x python -c pass, "
              f"+{(statistics.median(values) - reference) * 1000:.0f} ms")
    print(f"  target: sipe-setup --help <= 60 ms "
          f"({'met' if statistics.median(helps) <= 0.060 else 'NOT met'})\n")


def wizard(runs: int) -> None:
    python = str(VENV_BIN / "python")
    env = {**python_env(), "QT_QPA_PLATFORM": "offscreen"}
    bare: list[ChildRun] = []
    ours: list[ChildRun] = []
    for _ in range(runs):
        bare.append(_checked(run_child([python, "-c", _BARE_WIZARD], env=env)))
        ours.append(_checked(run_child([python, "-c", _OUR_WIZARD], env=env)))
    bare_t = [r.to_first_line for r in bare]
    ours_t = [r.to_first_line for r in ours]
    bare_rss = statistics.median(r.peak_rss_kib for r in bare) / 1024
    ours_rss = statistics.median(r.peak_rss_kib for r in ours) / 1024
    ratio = statistics.median(ours_t) / statistics.median(bare_t)
    print(f"Wizard cold start, exec to first page shown (offscreen, median of {runs}):")
    print(f"  bare one-page QWizard   {median_ms(bare_t)}   peak RSS {bare_rss:5.1f} MiB")
    print(f"  sipe-setup wizard       {median_ms(ours_t)}   peak RSS {ours_rss:5.1f} MiB")
    print(f"  ratio {ratio:.2f} (target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'}); "
          f"first page RSS target <= 70 MiB: {'met' if ours_rss <= 70 else 'NOT met'}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description="start-up benchmark")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", choices=["cli", "wizard"], default=None)
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.only in (None, "cli"):
        cli(args.runs)
    if args.only in (None, "wizard"):
        wizard(max(5, args.runs // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
