"""The use cases the CLI performs and the REST app will: typed options in, frozen results out.

One module per group of use cases; each is imported where it is used, so that a front end
loads only what it needs:

- :mod:`.options`: options shared by several use cases (pipeline, gallery), declared once;
- :mod:`.error_table`: error types -> CLI exit codes, HTTP statuses and one-line messages;
- :mod:`.detection`: detect faces in files and folders;
- :mod:`.verification`: two images, 1:1;
- :mod:`.gallery`: create, open, info, prune;
- :mod:`.enrolment`: enrol a person, a folder of people (consent files);
- :mod:`.identification`: identify photos against a gallery, verify a claimed identity;
- :mod:`.privacy`: subjects, export, forget (reaching attached photo libraries), opt-out, the audit log;
- :mod:`.library`: the photo library (index, people, names, suggestions, find, XMP);
  :mod:`.library_links`: which libraries name people into a gallery; :mod:`.video`: ``video tag``;
- :mod:`.cleaning`: clean a data set; the identity checks on a gallery or a library;
- :mod:`.evaluation`: LFW and pairs-CSV verification benchmarks; :mod:`.measurement`: latency budgets,
  masks, degradations and per-group errors (the toolkit of :mod:`countenance.evaluate`), with reports;
- :mod:`.models`: the optional ONNX models;
- :mod:`.demo`: the in-memory demo.
"""
