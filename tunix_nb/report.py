"""Plots people would rather look at than read: the loss (and lr) curve, the scorecard by category."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; notebooks display the saved PNGs
    import matplotlib.pyplot as plt

    return plt


def plot_loss(metrics: list[dict], out: Path) -> Path:
    plt = _pyplot()
    steps = [m["step"] for m in metrics]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps, [m["loss"] for m in metrics], color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (per completion token)")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(steps, [m["lr"] for m in metrics], color="tab:orange", alpha=0.6, label="lr")
    ax2.set_ylabel("learning rate")
    fig.legend(loc="upper right")
    ax.set_title("training loss")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_scorecard(summary: dict, out: Path) -> Path:
    plt = _pyplot()
    groups = {**{f"section:{k}": v for k, v in summary["per_section"].items()},
              **{k: v for k, v in summary["per_category"].items()}}
    names = ["overall", *groups]
    values = [summary["overall"], *groups.values()]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.2))
    ys = range(len(names))
    ax.barh([y - 0.2 for y in ys], [100 * v["accuracy"] for v in values], height=0.4, label="accuracy")
    ax.barh([y + 0.2 for y in ys], [100 * v["format_compliance"] for v in values], height=0.4, label="format")
    ax.set_yticks(list(ys), [f"{n} (n={v['n']})" for n, v in zip(names, values)])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("%")
    ax.legend(loc="lower right")
    ax.set_title("scorecard")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
