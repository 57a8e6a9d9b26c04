def write_html(*a, **k): raise NotImplementedError
