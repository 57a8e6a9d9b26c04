"""The routes, one module per group: system (health, version, gallery info), faces (detect,
verify, identify), subjects, privacy (opt-outs, audit), library, page (the review page)."""
