"""Go standard-library behaviour that bmo's messages and parsing depend on.

The Go operator delegates several checks to Go's standard library (``net/url``, ``net``,
``encoding/json``, ``strconv``) and to ``github.com/google/uuid``; users see those functions'
error texts in webhook rejections and host status. Python's own libraries accept and word
things differently, so each module here reproduces one Go package, named after it:

* ``strconv`` -- ``strconv.Quote`` (the ``%q`` verb), the one quoting used everywhere.
* ``url`` -- ``net/url``: ``Parse``, ``ParseRequestURI``, ``ParseQuery``, ``URL.Hostname/Port``.
* ``net`` -- ``net.ParseMAC`` and ``net.SplitHostPort``.
* ``uuid`` -- ``uuid.Parse`` from ``github.com/google/uuid``.
* ``json`` -- ``encoding/json`` decoding: syntax errors, type mismatches, unknown fields.
"""
