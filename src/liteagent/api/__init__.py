"""The management API: agents, data sources and providers defined at run time."""
