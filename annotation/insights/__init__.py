"""What the ratings say about the retrieval (issue 15): precision per modality pair, rank
and similarity with cluster-bootstrap intervals, calibration and thresholds, annotator
drift, position bias and throughput. Queries in `queries`, tables in `report`, flat
download tables in `tables`; the numbers come from sampling.statistics."""
