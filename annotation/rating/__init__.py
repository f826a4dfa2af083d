"""The rating workflow: one module per job, imported as `from annotation.rating import claim`.

- claim.py: the next task for an annotator (leases, take-overs, gold at the project's rate);
- submit.py: submit, undo, skip, and the submission body's validation;
- consensus.py: PairResults from the votes, in the submit transaction; adjudication;
- gold.py: gold pairs marked by admins, annotators scored and paused on them;
- agreement.py: raw agreement, Fleiss' kappa, Krippendorff's alpha (numpy only);
- stats.py: the admin dashboard's figures;
- sql.py: every hand-written statement (names from the models) and the cursor PostgreSQL may prepare;
- exceptions.py: the workflow's refusals (WorkflowError), rendered by annotation/api/errors.py.

Imports run one way: claim and submit use consensus, gold and sql; nothing here imports them back.
"""
