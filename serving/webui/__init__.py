"""The web page ``serving serve`` shows at ``/ui/`` on the REST port (``--rest_api_ui``).

Static HTML + JS + CSS shipped in this package (``static/``), served from memory with a strict
Content-Security-Policy, plus two read-only JSON routes the page needs and TF Serving's API
lacks: the model names and a version's model card. Predictions go through the ordinary
``:predict`` endpoint.
"""

from serving.webui.routes import UI_PREFIX, WebUi

__all__ = ["UI_PREFIX", "WebUi"]
