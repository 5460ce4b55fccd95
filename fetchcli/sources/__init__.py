"""sources: input lines (files, stdin) become `UrlRecord`s after the input rules.

Owns reading (lazily, off the event loop), the rules of SPEC "Input"
(skip, scheme, validity, --shard, --include/--exclude, --unique) and pulling
links out of documents (--extract). A bad line becomes an error record, never
an exception. May import: fetchcli.model, fetchcli.options, fetchcli.text.
"""
