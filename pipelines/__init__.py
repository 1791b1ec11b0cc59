"""``restorekit.pipelines``: the pipeline YAML files shipped with restorekit.

Each file is a bundled pipeline named by its stem (``restorekit deblur … --pipeline hqs``,
``restorekit pipelines`` lists them); see :mod:`restorekit.bundled`.
"""
