"""The browser console under ``/ui/``: server-rendered pages for people.

Jinja2 templates (``templates/``) with htmx (vendored from npm, ``static/vendor/``)
and one small script of our own (``static/console.js``: the playground's WebSocket).
Nothing is built at start-up. The room calls the service layer only, with the
signed-in key's ``Caller``, so it sees exactly what the API shows that key (same
team scoping, same masking). Modules: ``session.py`` (the signed session cookie and
CSRF tokens), ``web.py`` (templates, the sign-in dependency, HTML errors),
``signin.py`` (``/ui/login``, sign-out), ``graph_svg.py`` (the layered drawing of a
version's graph), one module of routes per page family.
"""
