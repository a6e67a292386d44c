"""Knowledge bases: a team's documents, their ingestion and their search.

- ``bases.py``: knowledge bases (create, list, get, delete), by the id the team
  chooses or one given to it;
- ``documents.py``: adding documents (text, Markdown, HTML, PDF, a URL) with their
  ingestion job, listing, reading and deleting them;
- ``extract.py``: the text of each kind (``pypdf`` for PDFs; URLs fetched through
  the SSRF guard of ``tools.http``); ``chunking.py``: chunks with overlap, keeping
  source and position;
- ``ingest.py``: the durable ingestion worker (claimed, leased jobs; a crashed
  worker's job is taken again when its lease runs out);
- ``search.py``: hybrid search (the database's full-text search and embeddings
  nearest neighbours, merged by reciprocal rank fusion) and the
  ``StoreRetriever`` the ``knowledge_base`` tool searches through.

Sits above ``team`` (it reads the team's OpenAI credential for embeddings).
"""
