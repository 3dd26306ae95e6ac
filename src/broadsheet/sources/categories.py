"""arXiv category names as OAI `oai_dc` spells them ("Computer Science - Robotics") mapped to codes."""

from __future__ import annotations

_COMPUTER_SCIENCE = {
    "AI": "Artificial Intelligence",
    "AR": "Hardware Architecture",
    "CC": "Computational Complexity",
    "CE": "Computational Engineering, Finance, and Science",
    "CG": "Computational Geometry",
    "CL": "Computation and Language",
    "CR": "Cryptography and Security",
    "CV": "Computer Vision and Pattern Recognition",
    "CY": "Computers and Society",
    "DB": "Databases",
    "DC": "Distributed, Parallel, and Cluster Computing",
    "DL": "Digital Libraries",
    "DM": "Discrete Mathematics",
    "DS": "Data Structures and Algorithms",
    "ET": "Emerging Technologies",
    "FL": "Formal Languages and Automata Theory",
    "GL": "General Literature",
    "GR": "Graphics",
    "GT": "Computer Science and Game Theory",
    "HC": "Human-Computer Interaction",
    "IR": "Information Retrieval",
    "IT": "Information Theory",
    "LG": "Machine Learning",
    "LO": "Logic in Computer Science",
    "MA": "Multiagent Systems",
    "MM": "Multimedia",
    "MS": "Mathematical Software",
    "NA": "Numerical Analysis",
    "NE": "Neural and Evolutionary Computing",
    "NI": "Networking and Internet Architecture",
    "OH": "Other Computer Science",
    "OS": "Operating Systems",
    "PF": "Performance",
    "PL": "Programming Languages",
    "RO": "Robotics",
    "SC": "Symbolic Computation",
    "SD": "Sound",
    "SE": "Software Engineering",
    "SI": "Social and Information Networks",
    "SY": "Systems and Control",
}
_MATHEMATICS = {
    "AC": "Commutative Algebra",
    "AG": "Algebraic Geometry",
    "AP": "Analysis of PDEs",
    "AT": "Algebraic Topology",
    "CA": "Classical Analysis and ODEs",
    "CO": "Combinatorics",
    "CT": "Category Theory",
    "CV": "Complex Variables",
    "DG": "Differential Geometry",
    "DS": "Dynamical Systems",
    "FA": "Functional Analysis",
    "GM": "General Mathematics",
    "GN": "General Topology",
    "GR": "Group Theory",
    "GT": "Geometric Topology",
    "HO": "History and Overview",
    "IT": "Information Theory",
    "KT": "K-Theory and Homology",
    "LO": "Logic",
    "MG": "Metric Geometry",
    "MP": "Mathematical Physics",
    "NA": "Numerical Analysis",
    "NT": "Number Theory",
    "OA": "Operator Algebras",
    "OC": "Optimization and Control",
    "PR": "Probability",
    "QA": "Quantum Algebra",
    "RA": "Rings and Algebras",
    "RT": "Representation Theory",
    "SG": "Symplectic Geometry",
    "SP": "Spectral Theory",
    "ST": "Statistics Theory",
}
_STATISTICS = {
    "AP": "Applications",
    "CO": "Computation",
    "ME": "Methodology",
    "ML": "Machine Learning",
    "OT": "Other Statistics",
    "TH": "Statistics Theory",
}
_EESS = {
    "AS": "Audio and Speech Processing",
    "IV": "Image and Video Processing",
    "SP": "Signal Processing",
    "SY": "Systems and Control",
}
_STANDALONE = {
    "High Energy Physics - Experiment": "hep-ex",
    "High Energy Physics - Lattice": "hep-lat",
    "High Energy Physics - Phenomenology": "hep-ph",
    "High Energy Physics - Theory": "hep-th",
    "General Relativity and Quantum Cosmology": "gr-qc",
    "Mathematical Physics": "math-ph",
    "Nuclear Experiment": "nucl-ex",
    "Nuclear Theory": "nucl-th",
    "Quantum Physics": "quant-ph",
}


def _build() -> dict[str, str]:
    table = dict(_STANDALONE)
    for archive, prefix, names in (
        ("cs", "Computer Science", _COMPUTER_SCIENCE),
        ("math", "Mathematics", _MATHEMATICS),
        ("stat", "Statistics", _STATISTICS),
        ("eess", "Electrical Engineering and Systems Science", _EESS),
    ):
        for code, name in names.items():
            table[f"{prefix} - {name}"] = f"{archive}.{code}"
    return table


CATEGORY_CODES_BY_NAME: dict[str, str] = _build()


def category_code(subject: str) -> str | None:
    """'Computer Science - Robotics' → 'cs.RO'; None for names not in the table (mainly physics
    subject classes). A subject that already is a code ('cs.RO', 'hep-th') is returned as is."""
    text = " ".join(subject.split())
    if text in CATEGORY_CODES_BY_NAME:
        return CATEGORY_CODES_BY_NAME[text]
    if " " not in text and (text in _STANDALONE.values() or "." in text):
        return text
    return None
