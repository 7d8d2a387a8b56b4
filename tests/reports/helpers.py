"""Parsing a written page: the texts of the timeline's events and every src/href (all ``data:``)."""

from html.parser import HTMLParser


class _Events(HTMLParser):
    """Texts of the timeline's ``.event`` elements and every src/href of a page."""

    def __init__(self):
        super().__init__()
        self.events, self.links, self._inside = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        self._inside = "event" in (attrs.get("class") or "").split()

    def handle_data(self, data):
        if self._inside:
            self.events.append(data)
            self._inside = False


def parse_page(path):
    parser = _Events()
    parser.feed(path.read_text())
    assert all(link.startswith("data:") for link in parser.links), parser.links
    return parser
