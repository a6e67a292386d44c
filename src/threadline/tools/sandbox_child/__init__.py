"""Child side of the ``inline_python`` sandbox (see ``threadline.tools.sandbox``).

Run as a folder by a fresh interpreter (``python -I -S -B sandbox_child/``, which
runs ``__main__``), never imported by the server. It must stay standard-library
only: ``-I -S`` gives it no site-packages and no access to the ``threadline``
package; the folder itself is its ``sys.path[0]``, so ``__main__`` imports its
siblings by their bare names (the tests import them as
``threadline.tools.sandbox_child.*``). The siblings never import each other, and
no module here may bear the name of a standard-library module.

- ``seccomp``: the syscall filter (a deny-list, argument checks, default allow);
- ``confinement``: namespaces, privileges, resource limits, installing the filter;
- ``user_code``: the import allow-list and running the user's function;
- ``__main__``: the bootstrap that runs them, in order.
"""
