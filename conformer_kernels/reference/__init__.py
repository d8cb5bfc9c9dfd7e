"""Pure-PyTorch specifications of every op, by independent algorithms (SVD, brute force, VF2).

They are the oracles of the tests and the `use_reference()` path; slow and simple on purpose.
"""
