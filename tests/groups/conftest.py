"""The consumer-group suite's fixtures live in groups_support.py; pytest finds them here."""
from groups_support import broker, java_classpath, java_classpath_if_needed, members, own_broker  # noqa: F401
