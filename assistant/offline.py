"""Offline switches, set before any third-party import reaches for the network.

Each one was seen to matter on these machines (docs/offline-stack.md): without them
libraries retry hub look-ups, ping analytics hosts or download models at first use.
"""

import os

_SWITCHES = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "1",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "RAGAS_DO_NOT_TRACK": "true",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply() -> None:
    for name, value in _SWITCHES.items():
        os.environ.setdefault(name, value)
