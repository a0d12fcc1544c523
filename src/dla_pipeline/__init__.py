"""Pipeline logic for the DLA local-government warehouse.

DAG files in ``dags/`` stay thin and call into this package: parsing and
validating LAO extracts (``contract``, ``parsing``), loading them with COPY
(``ingest``), running dbt (``transform``), the Great Expectations gate
(``quality``), publishing (``publish``) and the embedded warehouse
(``warehouse``).
"""

__version__ = "0.1.0"
