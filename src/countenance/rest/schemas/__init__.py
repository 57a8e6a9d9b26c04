"""The shapes of the REST answers, one module per route group, for the OpenAPI document and
checked on every answer: :mod:`.common` (the box, the page envelope, the error), :mod:`.faces`
(detect, verify, identify), :mod:`.gallery` (system, subjects, privacy), :mod:`.library`."""
