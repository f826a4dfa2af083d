"""What the soak benchmark (bench/bench_soak.py) checks in SQL once the load has stopped: no task
given twice to one annotator or beyond its annotator count, no duplicate rating, and every
submit the server acknowledged with a 200 stored with the labels that were sent."""

from __future__ import annotations

import psycopg

COUNTS = {
    "acknowledged submits (client ledger)": "SELECT count(DISTINCT assignment_id) FROM acked",
    "submitted assignments stored": """
        SELECT count(*) FROM annotation_assignment WHERE project_id = %(project)s AND state = 'submitted'""",
    "ratings stored": """
        SELECT count(*) FROM annotation_rating r JOIN annotation_assignment a ON a.id = r.assignment_id
        WHERE a.project_id = %(project)s""",
}

# Each query counts violations: every one must be 0.
VIOLATIONS = {
    "tasks given twice to one annotator": """
        SELECT count(*) FROM (SELECT 1 FROM annotation_assignment WHERE project_id = %(project)s
                              GROUP BY task_id, annotator_id HAVING count(*) > 1) twice""",
    "tasks with more submitted assignments than annotators_per_task + reopened slots": """
        SELECT count(*) FROM (
            SELECT 1 FROM annotation_assignment a JOIN annotation_task t ON t.id = a.task_id
                 JOIN annotation_project p ON p.id = t.project_id
            WHERE a.project_id = %(project)s AND a.state = 'submitted'
            GROUP BY a.task_id, p.annotators_per_task, t.extra_slots
            HAVING count(*) > p.annotators_per_task + t.extra_slots) over""",
    "tasks whose rating_count is not their submitted assignments": """
        SELECT count(*) FROM annotation_task t
        LEFT JOIN (SELECT task_id, count(*) AS n FROM annotation_assignment
                   WHERE project_id = %(project)s AND state = 'submitted' GROUP BY task_id) s ON s.task_id = t.id
        WHERE t.project_id = %(project)s AND t.rating_count <> coalesce(s.n, 0)""",
    "duplicate ratings (one assignment, one candidate)": """
        SELECT count(*) FROM (SELECT 1 FROM annotation_rating GROUP BY assignment_id, candidate_id
                              HAVING count(*) > 1) dup""",
    "duplicate ratings (one annotator, one candidate)": """
        SELECT count(*) FROM (SELECT 1 FROM annotation_rating r JOIN annotation_assignment a ON a.id = r.assignment_id
                              WHERE a.project_id = %(project)s GROUP BY a.annotator_id, r.candidate_id
                              HAVING count(*) > 1) dup""",
    "acknowledged ratings missing or stored with another label": """
        SELECT count(*) FROM acked k LEFT JOIN annotation_rating r
            ON r.assignment_id = k.assignment_id AND r.candidate_id = k.candidate_id AND r.label = k.label
        WHERE r.id IS NULL""",
    "acknowledged submits whose assignment is not submitted": """
        SELECT count(DISTINCT k.assignment_id) FROM acked k JOIN annotation_assignment a ON a.id = k.assignment_id
        WHERE a.state <> 'submitted'""",
}


def check(url: str, project_id: int, ledger: list[tuple[int, dict[int, str]]]) -> bool:
    """Print the counts and each invariant; True when no invariant is violated."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE acked (assignment_id bigint, candidate_id bigint, label text)")
        with conn.cursor().copy("COPY acked FROM STDIN") as copy:
            for assignment_id, labels in ledger:
                for candidate_id, label in labels.items():
                    copy.write_row((assignment_id, candidate_id, label))
        for name, query in COUNTS.items():
            print(f"  {name}: {conn.execute(query, {'project': project_id}).fetchone()[0]:,}")
        ok = True
        for name, query in VIOLATIONS.items():
            violations = conn.execute(query, {"project": project_id}).fetchone()[0]
            ok = ok and violations == 0
            print(f"  {'ok  ' if violations == 0 else 'FAIL'} {name}: {violations:,}")
    return ok
