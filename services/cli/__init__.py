"""The ``devflow`` command: starts embedded servers, composes services, manages projects."""
