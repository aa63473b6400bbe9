"""One router per resource; add a resource by adding its module to ``registry.py``."""
