"""http: the HTTP fetcher; the only package that imports httpx or a wire library.

Owns one attempt (deadline, pool slot, redirects), retries and backoff,
HEAD,GET, the body limit, --save, the one map from wire exceptions to
`ErrorKind` (`errors`), and the wire contract that a transport fulfils
(`wire`). Entry point: `fetch.open_http_fetcher(spec, connections, gate)`.
May import: fetchcli.model, fetchcli.options, fetchcli.text.
"""
