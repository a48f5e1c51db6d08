"""Scoring models and audio: the ``evaluate`` run (``run``, ``inputs``, ``models``,
``outputs``), metrics by family (``metrics`` spectral and signal scores, ``mcd``/``dtw``,
``pitch``, ``gan_scores``), the digit classifier (``classifier*``) and the HTML report.
"""
