"""Attribution: a tag store in the dataset, GraphSense TagPack/CSV import-export, cluster
labels and conflicts.

>>> from chainsleuth.tags.taxonomy import confidence_level
>>> confidence_level("service_data")
50
"""
