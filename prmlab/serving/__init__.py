"""`prmlab serve`: models and judges behind HTTP on loopback (OpenAI completions subset, step
scores). Sits above `judges` (it loads and serves them) and below everything that trains."""
