"""The run report: slides of facts, tables and figures built from a flow run's artifacts, rendered two ways from the
same content: the flow's Metaflow card and a standalone HTML presentation (``python -m recsys present``).

:mod:`~recsys.report.summaries` reads a run into the small summary the report needs and computes its tables and
verdicts, :mod:`~recsys.report.figures` draws the charts, :mod:`~recsys.report.slides` builds the deck (the prose
of each slide is versioned markdown in ``recsys/report/prose/<slide>.md``) and :mod:`~recsys.report.render` turns it
into card components, HTML and the lines a run prints at its end.
"""

from recsys.report.render import (
    CARD_COLUMNS,
    Closing,
    card_components,
    card_table_parts,
    console_summary,
    load_run,
    log_presentation,
    render_html,
    run_summary,
    short_path,
    submission_lines,
    trial_console_table,
    write_presentation,
)
from recsys.report.slides import PROSE_DIR, Slide, build_slides, read_prose
from recsys.report.summaries import (
    PLAIN_LABEL,
    buyer_curve,
    compare,
    display_table,
    feature_label,
    hypothesis_verdicts,
    row_label,
    search_note,
    summarize,
    truth_sentence,
    verdict_inputs,
)

__all__ = [
    "PLAIN_LABEL",
    "PROSE_DIR",
    "Slide",
    "build_slides",
    "buyer_curve",
    "CARD_COLUMNS",
    "card_components",
    "card_table_parts",
    "compare",
    "Closing",
    "console_summary",
    "submission_lines",
    "display_table",
    "feature_label",
    "hypothesis_verdicts",
    "load_run",
    "log_presentation",
    "read_prose",
    "render_html",
    "row_label",
    "run_summary",
    "search_note",
    "short_path",
    "summarize",
    "trial_console_table",
    "truth_sentence",
    "verdict_inputs",
    "write_presentation",
]
