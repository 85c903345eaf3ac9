"""The Django-free ML pipeline: video → features → windowed dataset → model → live predictions.

Nothing in this package imports Django. Inputs and outputs are arrays, DataFrames, paths and
frozen dataclasses, so the CLI, the Celery workers and live sessions all call the same code.
"""
