"""The drift report's charts: the PSI chart's legend leaves every bar visible."""

from distml.components.monitor.report import scores_chart


def test_the_psi_legend_covers_no_bar():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    names = ("brightness", "contrast", "ink_fraction", "pixel_intensity", "predicted_class", "confidence")
    # The longest bars last and first: where a legend inside the axes sits.
    psis = (14.0, 0.05, 0.3, 2.0, 6.0, 13.5)
    report = {
        "features": [{"name": n, "psi": p, "drifted": p > 0.2} for n, p in zip(names, psis)],
        "thresholds": {"psi": 0.2},
    }
    fig = scores_chart(report)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [bar.get_window_extent(renderer) for bar in ax.patches]
    assert len(bars) == len(names)
    assert not any(legend.overlaps(bar) for bar in bars)
    assert fig.bbox.contains(legend.x0, legend.y0) and fig.bbox.contains(legend.x1, legend.y1)  # not cut off
