#!/usr/bin/env python3
"""Augmentation as a user runs it (docs/data.md, "Augmentation"): a run with random crops and
flips stopped and resumed ends with the same bytes as one never stopped; the augmentation
reaches the checkpoint, a resume keeps it and refuses another, eval and predict take the
weights' center crop; crops that do not fit and malformed values are refused, saying why.

    python3 tests/cli/suite_augment.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import (TINY_NET, Suite, check, expect, fashion_images, png_bytes, read_safetensors,
                       write_idx_subset, write_safetensors)

suite = Suite(__doc__)
# 300 images at batch 32: 9 full steps and a short batch of 12 an epoch (tiny.net: 2 epochs).
DATA = write_idx_subset(suite.path("data"), 300, 64)
MODEL = suite.write("tiny.net", TINY_NET)
CPU = ["--device", "cpu", "--no-progress"]
CROP_FLIP = ["--random-crop", "24,padding=3", "--flip"]  # 28x28 images padded to 34, 24 cropped, resized to 12


def train(*args):
    return suite.run(["train", MODEL, "--data", DATA, *CPU, *args])


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def augmentation_keys(path):
    return {k: v for k, v in read_safetensors(path)[1].items() if k.startswith("augment_")}


@suite.test
def an_augmented_run_stopped_and_resumed_gives_the_same_bytes_as_one_run():
    one = suite.path("one.safetensors")
    r = expect(train("--checkpoint", one, *CROP_FLIP), 0,
               stdout=r"seed 0, augmentation: random crop 24x24,padding=3, flip\n")
    for steps in ("4", "13"):  # inside the first epoch; inside the second, after a short batch
        stopped = suite.path(f"stopped{steps}.safetensors")
        expect(train("--checkpoint", stopped, *CROP_FLIP, "--max-steps", steps), 0)
        r = expect(train("--checkpoint", stopped, "--resume"), 0, stdout=r"resuming from .* inside epoch")
        check(read_bytes(stopped) == read_bytes(one),
              f"stopped after {steps} steps and resumed, the checkpoint differs from the run never stopped", r)


@suite.test
def the_augmentation_changes_training_and_is_kept_in_the_checkpoint():
    plain, augmented = suite.path("plain.safetensors"), suite.path("augmented.safetensors")
    r = expect(train("--checkpoint", plain), 0)
    check("augmentation" not in r.stdout, "a run without augmentation mentions it", r)
    check(augmentation_keys(plain) == {}, f"a run without augmentation records some: {augmentation_keys(plain)}")
    expect(train("--checkpoint", augmented, *CROP_FLIP), 0)
    check(augmentation_keys(augmented) == {"augment_random_crop": "24x24,padding=3", "augment_flip": "true"},
          f"the checkpoint records {augmentation_keys(augmented)}")
    check(read_safetensors(plain)[2] != read_safetensors(augmented)[2], "the augmented run trained the same weights")
    # The same augmentation drawn from another seed trains other weights.
    other = suite.path("other-seed.safetensors")
    expect(train("--checkpoint", other, *CROP_FLIP, "--seed", "1"), 0)
    check(read_safetensors(other)[2] != read_safetensors(augmented)[2], "another seed drew the same augmentation")


@suite.test
def a_resume_keeps_the_augmentation_and_refuses_another():
    path = suite.path("resumed.safetensors")
    expect(train("--checkpoint", path, *CROP_FLIP, "--max-steps", "3"), 0)
    r = expect(train("--checkpoint", path, "--resume", "--random-crop", "20,padding=3", "--flip"), 1,
               r"resnetc: error: --resume: .*resumed\.safetensors was written with another recipe: augmentation random "
               r"crop 20x20,padding=3, flip \(the checkpoint's: random crop 24x24,padding=3, flip\); leave these out to "
               r"resume with the checkpoint's values, or add --allow-recipe-change to continue with these")
    check("compiled" not in r.stdout, "work began before the refusal", r)
    expect(train("--checkpoint", path, "--resume", "--max-steps", "3"), 0)
    check(augmentation_keys(path)["augment_random_crop"] == "24x24,padding=3", "the resumed run lost its augmentation")
    expect(train("--checkpoint", path, "--resume", "--random-crop", "20,padding=3", "--allow-recipe-change"), 0,
           stdout=r"note: resuming with a changed recipe: augmentation random crop 20x20,padding=3 \(the "
                  r"checkpoint's: random crop 24x24,padding=3, flip\)")
    check(augmentation_keys(path) == {"augment_random_crop": "20x20,padding=3"}, f"{augmentation_keys(path)}")


@suite.test
def eval_and_predict_take_the_weights_center_crop():
    """Random-resized crops in training, a center crop of 20 of the 28x28 images for evaluation:
    eval's accuracy is predict's on the same images written as PNG files (predict reads them at
    the training images' size, then crops as eval does), and predict's probabilities change when
    the checkpoint loses its center crop."""
    path = suite.path("centered.safetensors")
    expect(train("--checkpoint", path, "--random-resized-crop", "12,scale=0.5:1", "--center-crop", "20", "--flip",
                 "--epochs", "3"), 0)
    check(augmentation_keys(path) == {"augment_random_resized_crop": "12x12,scale=0.5:1,ratio=0.75:1.3333333333333333",
                                      "augment_center_crop": "20x20", "augment_image_size": "28x28",
                                      "augment_flip": "true"}, f"{augmentation_keys(path)}")
    r = expect(suite.run(["eval", MODEL, "--data", DATA, "--weights", path, *CPU]), 0)
    accuracy = float(r.stdout.split("test acc ")[1].split()[0])
    pixels, labels = fashion_images("t10k", 64)
    files = []
    for i in range(64):
        files.append(suite.path("pngs", f"{i:02d}.png"))
        os.makedirs(os.path.dirname(files[-1]), exist_ok=True)
        with open(files[-1], "wb") as f:
            f.write(png_bytes(28, 28, 1, pixels[i * 784:(i + 1) * 784]))
    predict = ["predict", MODEL, *files, "--top", "10", "--format", "json", "--device", "cpu"]
    r = expect(suite.run([*predict, "--weights", path]), 0)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    right = sum(image["top"][0]["class"] == names[labels[i]] for i, image in enumerate(json.loads(r.stdout)))
    check(abs(right / 64 - accuracy) < 1e-9, f"predict is right on {right}/64 images, eval says {accuracy}", r)
    header, metadata, data = read_safetensors(path)
    del metadata["augment_center_crop"], metadata["augment_image_size"]
    stripped = suite.path("stripped.safetensors")
    write_safetensors(stripped, header, metadata, data)
    uncropped = expect(suite.run([*predict, "--weights", stripped]), 0)
    check(uncropped.stdout != r.stdout, "predict gave the same probabilities without the center crop", uncropped)


@suite.test
def crops_that_do_not_fit_are_refused_before_compiling():
    for args, message in (
            (["--random-crop", "36,padding=3"],
             r"the random crop 36x36 is larger than the images, 28x28, padded by 3 \(34x34\)"),
            (["--center-crop", "30"], r"the center crop 30x30 is larger than the images, 28x28"),
            (["--random-resized-crop", "24"],
             r"the random-resized crop's size 24x24 must be the network's input, 12x12 \(the crop is resized to it\)"),
            (["--random-resized-crop", "12", "--random-crop", "24"],
             r"a random crop and a random-resized crop cannot both be asked for: choose one")):
        r = expect(train("--checkpoint", suite.path("refused.safetensors"), *args), 1,
                   r"resnetc: training stopped: augmentation: " + message)
        check("compiled" not in r.stdout, "work began before the refusal", r)
        check(not os.path.exists(suite.path("refused.safetensors")), "a refused run wrote a checkpoint", r)


@suite.test
def malformed_augmentation_values_are_usage_errors():
    for args, message in (
            (["--random-crop", "0"], r"--random-crop: expected a size N or HxW \(each side from 1 to 32768\), got '0'"),
            (["--random-crop", "24,pad=3"], r"--random-crop: expected SIZE\[,padding=P\], got '24,pad=3'"),
            (["--random-resized-crop", "12,scale=0.9:0.1"],
             r"--random-resized-crop: scale 0\.9:0\.1: the minimum is above the maximum"),
            (["--random-resized-crop", "12,ratio=-1:2"], r"--random-resized-crop: expected a number above 0, got '-1'"),
            (["--center-crop", "12x"], r"--center-crop: expected a size N or HxW .*")):
        expect(train(*args), 2, r"resnetc: error: " + message + r".*")


@suite.test
def the_train_section_asks_for_augmentation_and_flags_replace_it():
    model = suite.write("sectioned.net", TINY_NET.replace("    momentum 0.9\n",
                                                           "    momentum 0.9\n    random_crop \"26,padding=2\"\n"
                                                           "    flip true\n"))
    path = suite.path("sectioned.safetensors")
    r = expect(suite.run(["train", model, "--data", DATA, *CPU, "--checkpoint", path, "--max-steps", "1",
                          "--random-crop", "24,padding=3"]), 0,
               stdout=r"augmentation: random crop 24x24,padding=3, flip\n")
    check(augmentation_keys(path) == {"augment_random_crop": "24x24,padding=3", "augment_flip": "true"},
          f"{augmentation_keys(path)}", r)
    bad = suite.write("bad.net", TINY_NET.replace("    momentum 0.9\n", "    momentum 0.9\n    random_crop \"26,x\"\n"))
    expect(suite.run(["train", bad, "--data", DATA, *CPU]), 1,
           r".*bad\.net:11:17: error: 'random_crop': expected SIZE\[,padding=P\], got '26,x'")


if __name__ == "__main__":
    suite.main()
