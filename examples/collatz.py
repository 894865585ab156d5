"""A small program to trace: `cwm trace examples/collatz.py --call "collatz(6)"`."""


def step(n):
    if n % 2 == 0:
        return n // 2
    return 3 * n + 1


def collatz(n):
    path = [n]
    while n != 1:
        n = step(n)
        path.append(n)
    print(f"{len(path) - 1} steps")
    return path


if __name__ == "__main__":
    collatz(6)
