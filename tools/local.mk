# tools/ -- zpctl and zpbench.
