"""SQL of the kernel, one module per aggregate; callers import the functions from the modules.

- :mod:`.projects`: projects and their credentials.
- :mod:`.jobs`: the dramatiq queue and the periodic jobs' locks and schedule.
- :mod:`.migrations`: the applied-migrations record and the migration lock (synchronous).
- :mod:`.platform`: the storage mode and the liveness ping.
"""
