"""DevFlow Analytics services. Each subpackage is one service; ``core`` is the shared kernel."""
