"""The ``audiogan`` command line: ``main`` holds the group and ``train``; each other module
adds the commands of one verb (``data``, ``inference``, ``evaluate``, ``imports``, ``demo``).
"""
