"""Two models generating in two threads at once (the GIL is released while the engine computes)."""

import threading

import kestrel
from conftest import model_path

PROMPT = "Once upon a time"


def test_two_models_in_two_threads():
    kinds = ["q4_0", "f32"]
    models = [kestrel.Model(model_path(k), n_ctx=128, n_threads=1) for k in kinds]
    expected = [m.generate(PROMPT, max_tokens=100, temperature=0) for m in models]
    sampled = [m.generate(PROMPT, max_tokens=100, temperature=0.8, seed=5) for m in models]
    results = {}
    start = threading.Barrier(2)

    def work(i):
        start.wait()
        out = []
        for _ in range(5):  # several rounds so the two threads' generations overlap
            out.append(models[i].generate(PROMPT, max_tokens=100, temperature=0))
            out.append("".join(models[i].generate(PROMPT, max_tokens=100, temperature=0.8, seed=5, stream=True)))
        results[i] = out

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert results[i] == [expected[i], sampled[i]] * 5
    for m in models:
        m.close()


def test_one_model_shared_by_two_threads_serialises():
    m = kestrel.Model(model_path("q4_0"), n_ctx=128, n_threads=1)
    expected = m.generate(PROMPT, max_tokens=50, temperature=0)
    results = []

    def work():
        for _ in range(5):
            results.append(m.generate(PROMPT, max_tokens=50, temperature=0))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 10
    m.close()
