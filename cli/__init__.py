"""The ``dihr`` command line (``cli.main:app``), beside the web API: a CLI is
not part of the API. Modules by command group: ``registry`` (load, import,
back up, check), ``search`` (qualify, match, coverage), ``maps``, ``access``
(keys, audit), ``server`` (serve)."""
