"""French assistant for département staff on social-solidarity policies.

A question's path, one module per step: corpus/load -> clean -> chunk -> embed ->
store -> lexical/retrieve (and, later, answer -> verify).
"""

from . import offline as _offline

_offline.apply()

__version__ = "0.1.0"
