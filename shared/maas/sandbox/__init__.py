"""Running tenant artifacts where they can reach nothing that is not their own.

``confine`` applies the kernel's restrictions to a process; ``host`` is the process a model runs in;
``client`` starts and talks to one; ``frames`` carries tensors between the two.
"""
