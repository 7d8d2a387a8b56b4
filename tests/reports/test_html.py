"""Pages (``cts.reports.html``): text is escaped."""

from cts.data.timelines import format_hours
from cts.reports import html


def test_page_text_is_escaped(tmp_path):
    path = html.write_page(tmp_path / "p.html", "t", [html.timeline([("<script>alert(1)</script>", 1.0)],
                                                                     format_hours)])
    text = path.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
