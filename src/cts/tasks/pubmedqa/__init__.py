"""PubMedQA (PQA-L): question + abstract contexts → yes / no / maybe."""
