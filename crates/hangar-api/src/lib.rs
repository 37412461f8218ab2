//! The `mcp-hangar.io/v1alpha1` API. Types only: no I/O, no controllers.
