#!/usr/bin/env python3
"""resnetc train on data other than Fashion-MNIST's IDX files: CIFAR-10 and CIFAR-100 in their
binary formats (written here from real Fashion-MNIST images, padded to 32x32 and tinted into
three planes), chosen by --dataset or the train section's `dataset NAME "PATH"`; the loss falls,
class names reach the checkpoint, malformed files and a network of the wrong channel count are
refused before anything compiles, and --val-split evaluates on held-out training images; and
folders of PNG images sorted into class folders (the `folder` data set).

    python3 tests/cli/suite_datasets.py --resnetc build/tools/resnetc/resnetc [-k NAME]
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_cases import (TINY_NET, Suite, check, expect, fashion_images, png_bytes, read_safetensors, write_cifar_subset,
                       write_idx_subset, write_image_folder, write_safetensors)

suite = Suite(__doc__)
CPU = ["--device", "cpu", "--no-progress"]
PREDICT = ["--device", "cpu"]  # predict shows no progress
CIFAR10 = write_cifar_subset(suite.path("cifar10"), "cifar10", 320, 64)  # 64 a file, 10 steps an epoch
IDX = write_idx_subset(suite.path("idx"), 96, 32)
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]


def rgb_net(name, classes, train_extra=""):
    return f"""network {name} {{
  input 3x16x16
  stem {{ conv 8 k3 p1; bn; relu }}
  stage basic 8 stride=2
  head {{ avgpool; fc {classes} }}
  train {{
    epochs 3
    batch 32
    lr 0.05
    momentum 0.9{train_extra}
  }}
}}
"""


RGB10 = suite.write("rgb10.net", rgb_net("rgb10", 10))
TINY = suite.write("tiny.net", TINY_NET)


def epoch_losses(result):
    return [float(v) for v in re.findall(r"^epoch \d+/\d+: loss ([0-9.]+)", result.stdout, re.M)]


def class_names(checkpoint):
    _, metadata, _ = read_safetensors(checkpoint)
    return metadata.get("class_names", "").split("\n")


def refused_before_compiling(result, first):
    expect(result, 1, first)
    check("compiled" not in result.stdout, "work began before the refusal", result)


def broken_cifar10(name, damage):
    """A copy of CIFAR10 with damage(directory) applied."""
    directory = write_cifar_subset(suite.path(name), "cifar10", 20, 8)
    damage(directory)
    return directory


@suite.test
def cifar10_trains_and_its_class_names_reach_the_checkpoint():
    names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(os.path.join(CIFAR10, "batches.meta.txt"), "w") as f:
        f.write("\n".join(names) + "\n\n")  # the official file ends with blank lines
    path = suite.path("c10.safetensors")
    r = expect(suite.run(["train", RGB10, "--dataset", "cifar10", "--data", CIFAR10, "--checkpoint", path, *CPU]), 0,
               stdout=r"training rgb10 on cifar10 \(320 train / 64 test images\)")
    losses = epoch_losses(r)
    check(len(losses) == 3 and losses[2] < losses[0], f"the loss did not fall: {losses}", r)
    check(class_names(path) == names, f"class names {class_names(path)}", r)
    expect(suite.run(["eval", RGB10, "--dataset", "cifar10", "--data", CIFAR10, "--weights", path, *CPU]), 0,
           stdout=r"test acc [0-9.]+ \(64 images")


@suite.test
def cifar100_from_the_train_section_uses_fine_labels():
    directory = write_cifar_subset(suite.path("runs", "c100"), "cifar100", 256, 32)
    fine = [f"fine{i}" for i in range(100)]
    with open(os.path.join(directory, "fine_label_names.txt"), "w") as f:
        f.write("\n".join(fine) + "\n")
    # The path is relative to the .net file, not to the directory resnetc runs in.
    model = suite.write(os.path.join("runs", "rgb100.net"), rgb_net("rgb100", 100, '\n    dataset cifar100 "c100"'))
    path = suite.path("c100.safetensors")
    r = expect(suite.run(["train", model, "--checkpoint", path, *CPU]), 0,
               stdout=r"training rgb100 on cifar100 \(256 train / 32 test images\)")
    losses = epoch_losses(r)
    check(len(losses) == 3 and losses[2] < losses[0], f"the loss did not fall: {losses}", r)
    check(class_names(path) == fine, "not the fine label names", r)

    # cifar100-coarse: the 20 superclasses, named by number without coarse_label_names.txt.
    coarse = suite.path("coarse.safetensors")
    r = expect(suite.run(["train", model, "--dataset", "cifar100-coarse", "--data", directory, "--checkpoint", coarse,
                          "--max-steps", "1", *CPU]), 0, stdout=r"on cifar100-coarse")
    check(class_names(coarse) == [str(i) for i in range(20)], f"class names {class_names(coarse)}", r)


@suite.test
def malformed_cifar_files_are_named():
    missing = broken_cifar10("missing", lambda d: os.remove(os.path.join(d, "data_batch_3.bin")))
    refused_before_compiling(
        suite.run(["train", RGB10, "--dataset", "cifar10", "--data", missing, *CPU]),
        r"resnetc: data error: .*missing/data_batch_3\.bin: no such file")

    def truncate(d):
        with open(os.path.join(d, "test_batch.bin"), "r+b") as f:
            f.truncate(3073 * 8 - 100)
    short = broken_cifar10("short", truncate)
    refused_before_compiling(
        suite.run(["train", RGB10, "--dataset", "cifar10", "--data", short, *CPU]),
        r"resnetc: data error: .*short/test_batch\.bin: 24484 bytes is not a whole number of 3073-byte records "
        r"\(1 label byte and a 3x32x32 image each\): 2973 bytes left over")

    def bad_label(d):
        with open(os.path.join(d, "data_batch_2.bin"), "r+b") as f:
            f.seek(3073)
            f.write(bytes([12]))
    label = broken_cifar10("label", bad_label)
    refused_before_compiling(
        suite.run(["train", RGB10, "--dataset", "cifar10", "--data", label, *CPU]),
        r"resnetc: data error: .*label/data_batch_2\.bin: record 1 \(byte offset 3073\) has label 12, expected 0\.\.9")

    refused_before_compiling(suite.run(["train", RGB10, "--dataset", "cifar10", *CPU]),
                             r"resnetc: data error: cifar10 has no default directory: give --data DIR, or "
                             r"`dataset cifar10 \"DIR\"` in the train section of .*rgb10\.net")


@suite.test
def a_network_of_other_channels_is_refused_at_its_input_line():
    refused_before_compiling(
        suite.run(["train", TINY, "--dataset", "cifar10", "--data", CIFAR10, *CPU]),
        r".*tiny\.net:2:9: error: the network takes 1 channel \(input 1x12x12\) but cifar10 has 3: give the network "
        r"`input 3x12x12` or train it on a data set of 1 channel")
    refused_before_compiling(
        suite.run(["train", RGB10, "--data", IDX, *CPU]),
        r".*rgb10\.net:2:9: error: the network takes 3 channels \(input 3x16x16\) but idx has 1: give the network "
        r"`input 1x16x16` or train it on a data set of 3 channels")
    r = suite.run(["eval", TINY, "--dataset", "cifar10", "--data", CIFAR10, "--weights", suite.path("none"), *CPU])
    expect(r, 1, r".*tiny\.net:2:9: error: the network takes 1 channel .*")


@suite.test
def bad_val_split_is_refused():
    for value in ["0", "1", "1.5", "half"]:
        r = suite.run(["train", TINY, "--data", IDX, "--val-split", value, *CPU])
        expect(r, 2, r"resnetc: error: --val-split expects .*")
    refused_before_compiling(suite.run(["train", TINY, "--data", IDX, "--val-split", "0.001", *CPU]),
                             r"resnetc: data error: a validation split of 0\.001 of the 96 training images leaves 0 "
                             r"for validation and 96 for training; each needs at least one")


@suite.test
def val_split_evaluates_held_out_training_images():
    path = suite.path("val.safetensors")
    r = expect(suite.run(["train", TINY, "--data", IDX, "--val-split", "0.25", "--epochs", "1", "--checkpoint", path,
                          *CPU]), 0,
               stdout=[r"\(72 train / 24 validation images, --val-split 0\.25 of the training set drawn from seed 0, "
                       r"evaluated instead of the test set\)",
                       r"epoch 1/1: loss [0-9.]+, train acc [0-9.]+, val acc [0-9.]+,",
                       r"loss [0-9.]+, train acc [0-9.]+, val acc [0-9.]+\n"])
    check("test acc" not in r.stdout, "a line still says test acc", r)
    check(class_names(path) == FASHION_NAMES, f"class names {class_names(path)}", r)


@suite.test
def a_checkpoint_without_class_names_resumes():
    path = suite.path("old.safetensors")
    expect(suite.run(["train", TINY, "--data", IDX, "--checkpoint", path, "--max-steps", "1", *CPU]), 0)
    header, metadata, data = read_safetensors(path)
    check(metadata.pop("class_names", None) is not None, "the checkpoint had no class names")
    write_safetensors(path, header, metadata, data)  # as an older resnetc wrote it
    r = expect(suite.run(["train", TINY, "--data", IDX, "--checkpoint", path, "--resume", *CPU]), 0,
               stdout=r"epoch 2/2: loss")
    check(class_names(path) == FASHION_NAMES, "the resumed run's checkpoint has no class names", r)


@suite.test
def resume_refuses_other_data_val_split_or_data_set():
    """The checkpoint records the data set, --val-split and a fingerprint of the training images:
    a --resume on other ones is refused before anything compiles (inside an epoch even with
    --allow-recipe-change, since that epoch's order is of other images); the same images read
    from another directory continue."""
    path = suite.path("data-record.safetensors")
    run = ["train", TINY, "--checkpoint", path, *CPU]
    expect(suite.run([*run, "--data", IDX, "--max-steps", "1"]), 0)
    _, metadata, _ = read_safetensors(path)
    check(metadata.get("dataset") == "fashion-mnist" and "val_split" not in metadata and
          re.fullmatch(r"96 images 1x28x28, fingerprint [0-9a-f]{16}", metadata.get("train_images", "")),
          f"the checkpoint records {metadata}")
    resume = [*run, "--resume"]
    refused_before_compiling(
        suite.run([*resume, "--data", IDX, "--val-split", "0.25"]),
        r"resnetc: error: --resume: .*data-record\.safetensors was written with another recipe: "
        r"--val-split 0\.25 \(the checkpoint's: none\), training set of 72 images 1x28x28, fingerprint [0-9a-f]+ "
        r"\(the checkpoint's: 96 images 1x28x28, fingerprint [0-9a-f]+\); .*--allow-recipe-change.*")
    refused_before_compiling(suite.run([*resume, "--data", IDX, "--dataset", "mnist"]),
                             r"resnetc: error: --resume: .*another recipe: dataset mnist \(the "
                             r"checkpoint's: fashion-mnist\); .*")
    other = write_idx_subset(suite.path("idx-other"), 96, 32, labels=lambda split, i, v: (v + 1) % 10)
    refused_before_compiling(suite.run([*resume, "--data", other]),
                             r"resnetc: error: --resume: .*another recipe: training set of 96 images "
                             r"1x28x28, fingerprint ([0-9a-f]+) \(the checkpoint's: 96 images 1x28x28, fingerprint "
                             r"(?!\1)[0-9a-f]+\); .*\(the checkpoint does not record --data: give the "
                             r"directory the run trained on\).*")
    refused_before_compiling(suite.run([*resume, "--data", other, "--allow-recipe-change"]),
                             r"resnetc: error: --resume: .*data-record\.safetensors was saved inside epoch 1 "
                             r"\(after batch 1\); its place in the epoch's order needs the same training images: "
                             r"training set of .*")
    copy = write_idx_subset(suite.path("idx-copy"), 96, 32)
    expect(suite.run([*resume, "--data", copy]), 0, stdout=r"epoch 2/2: loss")
    # At an epoch's end, other data continue when asked for, noted.
    expect(suite.run([*resume, "--data", IDX, "--val-split", "0.25", "--allow-recipe-change", "--epochs", "3"]), 0,
           stdout=[r"note: resuming with a changed recipe: epochs 3 \(the checkpoint's: 2\), --val-split 0\.25 \(the "
                   r"checkpoint's: none\), training set of 72 images",
                   r"epoch 3/3: loss"])
    check(read_safetensors(path)[1].get("val_split") == "0.25", "the resumed run did not record its --val-split")


# Class folders in an order their names sort into, which is not the labels' order.
FOLDER_CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


@suite.test
def an_image_folder_trains_with_its_sorted_class_names():
    directory = write_image_folder(suite.path("folder"), 320, 64, FOLDER_CLASSES)
    path = suite.path("folder.safetensors")
    r = expect(suite.run(["train", RGB10, "--dataset", "folder", "--data", directory, "--checkpoint", path, *CPU]), 0,
               stdout=r"training rgb10 on folder \(320 train / 64 test images\)")
    losses = epoch_losses(r)
    check(len(losses) == 3 and losses[2] < losses[0], f"the loss did not fall: {losses}", r)
    check(class_names(path) == sorted(FOLDER_CLASSES), f"class names {class_names(path)}", r)
    evaluated = expect(suite.run(["eval", RGB10, "--dataset", "folder", "--data", directory, "--weights", path, *CPU]),
                       0, stdout=r"test acc [0-9.]+ \(64 images")
    predictions_agree_with_eval(directory, path, float(re.search(r"test acc ([0-9.]+)", evaluated.stdout).group(1)))
    # A one-channel network reads the same RGB files as gray (PIL's convert("L")), from test/.
    os.rename(os.path.join(directory, "val"), os.path.join(directory, "test"))
    expect(suite.run(["train", TINY, "--dataset", "folder", "--data", directory, "--checkpoint",
                      suite.path("gray.safetensors"), "--max-steps", "2", *CPU]), 0, stdout=r"on folder")


def predictions_agree_with_eval(directory, weights, accuracy):
    """resnetc predict over the val/ folder: its most probable class is the folder's as often as
    eval says (the same pixels and weights, another batch size); the probabilities are sorted,
    named by the checkpoint's classes and sum to 1 over all classes."""
    val = os.path.join(directory, "val")
    r = expect(suite.run(["predict", RGB10, "--weights", weights, val, "--top", "10", "--format", "json", *PREDICT]), 0)
    images = json.loads(r.stdout)
    check(len(images) == 64, f"{len(images)} images predicted, expected 64", r)
    right = 0
    for image in images:
        probs = [c["prob"] for c in image["top"]]
        check(probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-9, f"probabilities {probs}", r)
        check(sorted(c["class"] for c in image["top"]) == sorted(FOLDER_CLASSES), f"classes {image['top']}", r)
        right += image["top"][0]["class"] == os.path.basename(os.path.dirname(image["file"]))
    check(abs(right / 64 - accuracy) < 1e-4, f"predict is right on {right}/64, eval says {accuracy}", r)
    one = os.path.join(val, "bag", sorted(os.listdir(os.path.join(val, "bag")))[0])
    r = expect(suite.run(["predict", RGB10, "--weights", weights, one, *PREDICT]), 0)
    lines = r.stdout.splitlines()
    check(lines[0] == one and len(lines) == 6 and all(re.fullmatch(r"  [01]\.\d{4}  \S+", l) for l in lines[1:]),
          "not the file and its 5 most probable classes", r)


RGB32 = suite.write("rgb32.net", rgb_net("rgb32", 10).replace("input 3x16x16", "input 3x32x32"))


def augmentation_keys(checkpoint):
    return {k: v for k, v in read_safetensors(checkpoint)[1].items() if k.startswith("augment_")}


@suite.test
def a_folder_kept_at_another_size_is_cropped_and_eval_and_predict_read_it_so():
    """The ImageNet pairing at small scale: the 32x32 images kept at --image-size 40, random-
    resized crops of them in training, their center 32x32 in evaluation; eval and predict read
    the images at the checkpoint's size, and predict's probabilities change without it."""
    directory = write_image_folder(suite.path("sized"), 160, 32, FOLDER_CLASSES)
    path = suite.path("sized.safetensors")
    expect(suite.run(["train", RGB32, "--dataset", "folder", "--data", directory, "--checkpoint", path,
                      "--image-size", "40", "--random-resized-crop", "32", "--center-crop", "32", "--flip",
                      "--epochs", "2", *CPU]), 0,
           stdout=r"on folder \(160 train / 32 test images, kept at --image-size 40\)")
    check(augmentation_keys(path) == {"augment_random_resized_crop": "32x32,scale=0.08:1,ratio=0.75:1.3333333333333333",
                                      "augment_center_crop": "32x32", "augment_image_size": "40",
                                      "augment_flip": "true"}, f"{augmentation_keys(path)}")
    r = expect(suite.run(["eval", RGB32, "--dataset", "folder", "--data", directory, "--weights", path, *CPU]), 0,
               stdout=r"test acc [0-9.]+ \(32 images")
    accuracy = float(re.search(r"test acc ([0-9.]+)", r.stdout).group(1))
    predict = ["predict", RGB32, os.path.join(directory, "val"), "--top", "10", "--format", "json", *PREDICT]
    r = expect(suite.run([*predict, "--weights", path]), 0)
    right = sum(image["top"][0]["class"] == os.path.basename(os.path.dirname(image["file"]))
                for image in json.loads(r.stdout))
    check(abs(right / 32 - accuracy) < 1e-4, f"predict is right on {right}/32, eval says {accuracy}", r)
    # Without the size, predict reads the files at the input's 32x32: other pixels, other probabilities.
    header, metadata, data = read_safetensors(path)
    del metadata["augment_image_size"]
    stripped = suite.path("sized-stripped.safetensors")
    write_safetensors(stripped, header, metadata, data)
    unsized = expect(suite.run([*predict, "--weights", stripped]), 0)
    check(unsized.stdout != r.stdout, "predict gave the same probabilities without the image size", unsized)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


@suite.test
def a_folder_kept_in_a_file_trains_as_one_kept_in_memory():
    """--image-cache disk keeps the decoded images in a file (deleted as it is made, so the
    directory stays empty): the same batches, so the same epochs and the same checkpoint bytes,
    a run stopped and resumed included; a directory that cannot hold the file is named."""
    directory = write_image_folder(suite.path("cached"), 96, 32, FOLDER_CLASSES)
    cache = suite.path("image-cache")
    os.makedirs(cache)
    train = ["train", RGB32, "--dataset", "folder", "--data", directory, "--image-size", "40",
             "--random-resized-crop", "32", "--center-crop", "32", "--flip", "--val-split", "0.25", "--epochs", "2",
             *CPU]
    in_file = ["--image-cache", "disk", "--image-cache-dir", cache]
    memory, disk = suite.path("memory.safetensors"), suite.path("disk.safetensors")
    m = expect(suite.run([*train, "--checkpoint", memory, "--image-cache", "memory"]), 0)
    check("kept in a file" not in m.stdout, "--image-cache memory kept the images in a file", m)
    d = expect(suite.run([*train, "--checkpoint", disk, *in_file]), 0,
               stdout=r".*cached's 128 images at 3x40x40 \(614\.4 kB\) are kept in a file in .*image-cache "
                      r"\(--image-cache disk\)\n")
    epochs = lambda r: re.findall(r"^epoch \d+/\d+: loss [0-9.]+, train acc [0-9.]+, val acc [0-9.]+", r.stdout, re.M)
    check(len(epochs(d)) == 2 and epochs(d) == epochs(m), "the epochs differ between the file and memory", d)
    check(read_bytes(disk) == read_bytes(memory), "the checkpoint differs between the file and memory", d)
    check(os.listdir(cache) == [], f"the cache directory keeps {os.listdir(cache)}")
    stopped = suite.path("stopped.safetensors")
    expect(suite.run([*train, "--checkpoint", stopped, *in_file, "--max-steps", "3"]), 0)
    expect(suite.run([*train, "--checkpoint", stopped, "--resume", *in_file]), 0, stdout=r"resuming from .*")
    check(read_bytes(stopped) == read_bytes(memory), "stopped and resumed from the file, the checkpoint differs")
    missing = suite.path("no-such-dir")
    refused_before_compiling(
        suite.run([*train, "--checkpoint", suite.path("x.safetensors"), "--image-cache", "disk",
                   "--image-cache-dir", missing]),
        r"resnetc: data error: .*no-such-dir: cannot make the decoded images' cache file there: No such file or "
        r"directory; give --image-cache-dir a writable directory")


@suite.test
def a_resume_keeps_the_image_size_and_refuses_another():
    directory = write_image_folder(suite.path("resized"), 96, 20, FOLDER_CLASSES)
    # The train section names the size; --image-size replaces it.
    model = suite.write("sized.net", rgb_net("sized", 10, "\n    image_size \"36x40\""))
    path = suite.path("resized.safetensors")
    train = ["train", model, "--dataset", "folder", "--data", directory, "--checkpoint", path, *CPU]
    expect(suite.run([*train, "--max-steps", "2"]), 0, stdout=r"kept at --image-size 36x40\)")
    check(augmentation_keys(path) == {"augment_image_size": "36x40"}, f"{augmentation_keys(path)}")
    r = expect(suite.run([*train, "--resume", "--image-size", "40"]), 1,
               r"resnetc: error: --resume: .*resized\.safetensors was written with another recipe: image_size 40 "
               r"\(the checkpoint's: 36x40\), .*; leave these out to resume with the checkpoint's values, or add --allow-recipe-change "
               r"to continue with these")
    check("compiled" not in r.stdout, "work began before the refusal", r)
    expect(suite.run([*train, "--resume", "--max-steps", "3"]), 0)
    check(augmentation_keys(path) == {"augment_image_size": "36x40"}, f"the resumed run: {augmentation_keys(path)}")
    # Allowed, a change continues from the end of an epoch (inside one, its order needs the same images).
    epoch = suite.path("resized-epoch.safetensors")
    train[train.index(path)] = epoch
    expect(suite.run([*train, "--epochs", "1"]), 0)
    expect(suite.run([*train, "--resume", "--epochs", "2", "--image-size", "40", "--allow-recipe-change"]), 0,
           stdout=r"note: resuming with a changed recipe: .*image_size 40 \(the checkpoint's: 36x40\)")
    check(augmentation_keys(epoch) == {"augment_image_size": "40"}, f"{augmentation_keys(epoch)}")


@suite.test
def an_image_size_that_does_not_fit_or_does_not_apply_is_refused():
    directory = write_image_folder(suite.path("huge"), 320, 64, FOLDER_CLASSES)
    huge = ["train", RGB32, "--dataset", "folder", "--data", directory, "--image-size", "32768", *CPU]
    r = expect(suite.run([*huge, "--image-cache", "memory"]),
               1, r"resnetc: .*huge's 384 images at 3x32768x32768 need 1\.2 TB of memory, kept decoded as uint8, "
                  r"but [0-9.]+ [kMGT]?B is available: give a smaller --image-size \(or `image_size` in the train "
                  r"section\), free memory, or keep them in a file \(--image-cache disk\)")
    check("compiled" not in r.stdout, "work began before the refusal", r)
    # By default they go to a file, which the disk has no room for (nor any disk in a test machine).
    r = expect(suite.run([*huge, "--image-cache-dir", suite.path()]), 1,
               r"resnetc: data error: .*: no room for the decoded images' cache: it needs 1\.0 TB, the disk has "
               r"[0-9.]+ [kMGT]?B free \(.*\); give --image-cache-dir a directory on a disk with room, or a smaller "
               r"--image-size", stdout=r".*huge's 384 images at 3x32768x32768 need 1\.2 TB of memory, .*: they are kept "
               r"in a file in .* \(--image-cache-dir\), read from the disk as batches need them\n")
    check("compiled" not in r.stdout, "work began before the refusal", r)
    # A panorama of 1x2000 pixels with its shorter side resized to 20 would be 20x40000.
    with open(os.path.join(directory, "train", "bag", "panorama.png"), "wb") as f:
        f.write(png_bytes(2000, 1, 3, bytes(6000)))
    expect(suite.run(["train", RGB32, "--dataset", "folder", "--data", directory, "--image-size", "20", *CPU]), 1,
           r"resnetc: data error: .*panorama\.png: an image of 1x2000 with its shorter side resized to 20 "
           r"\(--image-size\) would be 20x40000, more than 32768 pixels a side; crop it, or give another --image-size")
    expect(suite.run(["train", TINY, "--data", IDX, "--image-size", "32", *CPU]), 1,
           r"resnetc: .*--image-size \(or the train section's image_size\) is the size a folder's images are kept "
           r"at; fashion-mnist's are kept as its files hold them: crop them with --random-crop or --center-crop")
    expect(suite.run(["train", RGB32, "--image-size", "32x", *CPU]), 2,
           r"resnetc: error: --image-size: expected a size N or HxW \(each side from 1 to 32768\), got '32x'.*")


@suite.test
def normalization_reaches_the_checkpoint_eval_predict_and_resume():
    """--normalize trains on (pixel/255 - mean) / std with the training set's statistics, kept in
    the checkpoint; eval and predict read them there (predict agrees with eval, and predict's
    probabilities change when the checkpoint loses them); --resume keeps them."""
    directory = write_image_folder(suite.path("normalized"), 320, 64, FOLDER_CLASSES)
    path = suite.path("normalized.safetensors")
    model = ["train", RGB10, "--dataset", "folder", "--data", directory, *CPU]
    r = expect(suite.run([*model, "--checkpoint", path, "--normalize"]), 0,
               stdout=r"normalization computed from the 320 training images: mean \S+ std \S+")
    printed = re.search(r"mean (\S+) std (\S+)", r.stdout).groups()
    _, metadata, _ = read_safetensors(path)
    saved = (metadata.get("normalize_mean"), metadata.get("normalize_std"))
    check(saved == printed, f"the checkpoint holds {saved}, the run printed {printed}", r)
    mean, std = ([float(v) for v in text.split(",")] for text in saved)
    check(len(mean) == 3 and len(std) == 3 and all(0 < m < 1 for m in mean) and all(0 < s < 0.5 for s in std),
          f"not three channels' statistics of [0,1] pixels: {saved}", r)
    evaluated = expect(suite.run(["eval", RGB10, "--dataset", "folder", "--data", directory, "--weights", path, *CPU]),
                       0, stdout=r"test acc [0-9.]+ \(64 images")
    predictions_agree_with_eval(directory, path, float(re.search(r"test acc ([0-9.]+)", evaluated.stdout).group(1)))

    one = os.path.join(directory, "val", "bag", sorted(os.listdir(os.path.join(directory, "val", "bag")))[0])
    predict = ["predict", RGB10, one, "--top", "10", "--format", "json", *PREDICT]
    normalized = expect(suite.run([*predict, "--weights", path]), 0).stdout
    header, metadata, data = read_safetensors(path)
    del metadata["normalize_mean"], metadata["normalize_std"]
    stripped = suite.path("stripped.safetensors")
    write_safetensors(stripped, header, metadata, data)
    r = expect(suite.run([*predict, "--weights", stripped]), 0)
    check(r.stdout != normalized, "predict gave the same probabilities without the checkpoint's normalization", r)

    # Given values: one for all channels; a resume continues with them and refuses others.
    given = suite.path("given.safetensors")
    expect(suite.run([*model, "--checkpoint", given, "--mean", "0.5", "--std", "0.25", "--max-steps", "2"]), 0)
    check(read_safetensors(given)[1].get("normalize_mean") == "0.5,0.5,0.5", "--mean 0.5 is not kept for 3 channels")
    refused_before_compiling(
        suite.run([*model, "--checkpoint", given, "--resume", "--mean", "0.4", "--std", "0.25"]),
        r"resnetc: error: --resume: .*given\.safetensors was written with another recipe: normalization mean "
        r"0\.4,0\.4,0\.4 std 0\.25,0\.25,0\.25 \(the checkpoint's: mean 0\.5,0\.5,0\.5 std 0\.25,0\.25,0\.25\); "
        r".*--allow-recipe-change.*")
    expect(suite.run([*model, "--checkpoint", given, "--resume"]), 0, stdout=r"epoch 3/3: loss")
    check(read_safetensors(given)[1].get("normalize_std") == "0.25,0.25,0.25", "the resumed run lost its normalization")


@suite.test
def the_train_section_normalizes_and_the_flags_replace_it():
    directory = write_image_folder(suite.path("file-normalized"), 64, 20)
    given = suite.write("normalized-file.net", rgb_net("nf", 10, '\n    mean "0.5,0.4,0.3"\n    std 0.25'))
    computed = suite.write("computed-file.net", rgb_net("nc", 10, "\n    normalize auto"))
    data = ["--dataset", "folder", "--data", directory, "--max-steps", "1", *CPU]

    def saved(model, *flags):
        path = suite.path("file-normalized.safetensors")
        r = expect(suite.run(["train", model, *data, "--checkpoint", path, *flags]), 0)
        _, metadata, _ = read_safetensors(path)
        return r, (metadata.get("normalize_mean"), metadata.get("normalize_std"))

    r, values = saved(given)
    check(values == ("0.5,0.4,0.3", "0.25,0.25,0.25"), f"the file's normalization gave {values}", r)
    r, values = saved(given, "--mean", "0.1", "--std", "0.2")
    check(values == ("0.1,0.1,0.1", "0.2,0.2,0.2"), f"--mean/--std over the file's gave {values}", r)
    r, values = saved(given, "--normalize")
    check("normalization computed from the 64 training images" in r.stdout and values[0] != "0.5,0.4,0.3",
          f"--normalize over the file's mean gave {values}", r)
    r, values = saved(computed)
    printed = re.search(r"normalization computed from the 64 training images: mean (\S+) std (\S+)", r.stdout)
    check(printed is not None and values == printed.groups(), f"normalize auto gave {values}", r)
    r, values = saved(computed, "--mean", "0.5", "--std", "0.5")
    check("normalization computed" not in r.stdout and values == ("0.5,0.5,0.5", "0.5,0.5,0.5"),
          f"--mean/--std over normalize auto gave {values}", r)
    # Refused at the file's value, before the data are read (there are none here).
    bad = suite.write("bad-normalization.net", rgb_net("nb", 10, '\n    mean "0.5,0.4"\n    std 0.25'))
    r = suite.run(["train", bad, "--dataset", "folder", "--data", suite.path("no-such-folder"), *CPU])
    expect(r, 1, r".*bad-normalization\.net:11:10: error: 'mean' has 2 values, but the network's input has 3 channels: "
                 r"give one a channel, or one for all")


@suite.test
def bad_normalization_values_are_usage_errors():
    model = ["train", RGB10, "--dataset", "folder", "--data", suite.path("no-data"), *CPU]
    for args, message in (
            (["--mean", "0.5", "--std", "0"], r"--std expects positive numbers separated by commas .*, got '0'"),
            (["--mean", "0.5", "--std", "-1"], r"--std expects positive numbers .*, got '-1'"),
            (["--mean", "0.5,x", "--std", "0.2"], r"--mean expects numbers separated by commas .*, got '0\.5,x'"),
            (["--mean", "0.5,,0.4", "--std", "0.2"], r"--mean expects numbers .*, got '0\.5,,0\.4'"),
            (["--mean", "nan", "--std", "0.2"], r"--mean expects numbers .*, got 'nan'"),
            (["--mean", "0.5"], r"--mean needs --std too: a normalization takes both"),
            (["--std", "0.5"], r"--std needs --mean too: a normalization takes both"),
            (["--normalize", "--mean", "0.5", "--std", "0.2"], r"--normalize computes the mean and std .*not both")):
        expect(suite.run([*model, *args]), 2, r"resnetc: error: " + message)
    directory = write_image_folder(suite.path("two-values"), 40, 20)
    refused_before_compiling(
        suite.run(["train", RGB10, "--dataset", "folder", "--data", directory, "--mean", "0.5,0.4", "--std", "0.2",
                   *CPU]),
        r"resnetc: training stopped: --mean has 2 values, but the data set's images have 3 channels: give one a "
        r"channel, or one for all")


@suite.test
def predict_refuses_what_it_cannot_read():
    model = ["predict", RGB10, *PREDICT]
    expect(suite.run([*model, "--weights", "w.safetensors", "--seed", "1", "x.png"]), 2,
           r"resnetc: error: --seed draws initial weights: give it or --weights, not both")
    expect(suite.run([*model, "--weights", "w.safetensors"]), 2, r"resnetc: error: predict needs the images: .*")
    weights = suite.path("tiny-for-predict.safetensors")
    expect(suite.run(["train", TINY, "--data", IDX, "--checkpoint", weights, "--max-steps", "1", *CPU]), 0)
    text = suite.write("not-an-image.png", "hello")
    expect(suite.run(["predict", TINY, "--weights", weights, text, *PREDICT]), 1,
           r"resnetc: data error: .*not-an-image\.png: neither a PNG nor a JPEG file .*")
    picture = suite.path("one.png")
    with open(picture, "wb") as f:
        f.write(png_bytes(3, 2, 1, bytes(range(6))))
    expect(suite.run(["predict", RGB10, "--weights", weights, picture, *PREDICT]), 1, r"resnetc: checkpoint error: .*")


@suite.test
def predict_without_weights_uses_the_initialized_network():
    picture = suite.path("initialized.png")
    with open(picture, "wb") as f:
        f.write(png_bytes(28, 28, 1, fashion_images("t10k", 1)[0]))
    runs = {seed: suite.run(["predict", TINY, picture, "--seed", seed, "--top", "3", *PREDICT]) for seed in ("1", "2")}
    for r in runs.values():
        expect(r, 0)
        check(re.fullmatch(r"resnetc: no --weights: predicting with the initialized network \(seed \d\), untrained\n",
                           r.stderr), "predict says it has no trained weights", r)
    check(runs["1"].stdout != runs["2"].stdout, "another seed, other initial weights", runs["2"])
    again = suite.run(["predict", TINY, picture, "--seed", "1", "--top", "3", *PREDICT])
    check(again.stdout == runs["1"].stdout, "the same seed, the same predictions", again)


@suite.test
def a_broken_image_folder_is_refused_naming_the_fault():
    base = write_image_folder(suite.path("broken"), 40, 20)
    model = ["train", RGB10, "--dataset", "folder", *CPU, "--data"]
    os.rename(os.path.join(base, "val"), os.path.join(base, "v"))
    refused_before_compiling(suite.run([*model, base]),
                             r"resnetc: data error: .*broken: the folder data set needs train/ and val/ \(or test/\) "
                             r"in it, each a folder of class folders; val/ \(or test/\) is missing")
    os.rename(os.path.join(base, "v"), os.path.join(base, "val"))
    os.makedirs(os.path.join(base, "val", "zebra"))
    with open(os.path.join(base, "val", "zebra", "z.png"), "wb") as f:
        f.write(png_bytes(2, 2, 1, bytes(4)))
    refused_before_compiling(suite.run([*model, base]),
                             r"resnetc: data error: .*broken: train/ and val/ must have the same class folders; "
                             r"only val/ has 'zebra'")
    os.remove(os.path.join(base, "val", "zebra", "z.png"))
    os.rmdir(os.path.join(base, "val", "zebra"))
    victim = os.path.join(base, "train", "c0", sorted(os.listdir(os.path.join(base, "train", "c0")))[0])
    with open(victim, "r+b") as f:
        f.truncate(100)
    refused_before_compiling(suite.run([*model, base]), r"resnetc: data error: .*c0/\d+\.png: not a readable PNG: end of "
                                                        r"stream; --skip-bad-images leaves out every file that is not a "
                                                        r"readable image")
    os.rename(victim, victim[:-4] + ".bmp")
    refused_before_compiling(suite.run([*model, base]),
                             r"resnetc: data error: .*c0/\d+\.bmp: bmp files are not read \(PNG and JPEG are\); .*")


@suite.test
def files_that_are_not_readable_images_stop_the_run_or_are_skipped_and_counted():
    base = write_image_folder(suite.path("unreadable"), 64, 20)
    model = ["train", RGB10, "--dataset", "folder", "--data", base, "--epochs", "1", *CPU]

    def first_image(*parts):
        folder = os.path.join(base, *parts)
        return os.path.join(folder, sorted(f for f in os.listdir(folder) if f.endswith(".png"))[0])

    notes = suite.write(os.path.join("unreadable", "train", "c3", "notes.txt"), "not an image")
    with open(first_image("train", "c2"), "r+b") as f:
        f.truncate(80)
    with open(first_image("val", "c1"), "wb") as f:
        f.write(b"hello")
    with open(os.path.join(base, "train", "c0", ".DS_Store"), "wb") as f:
        f.write(b"\0\0\0\1Bud1")  # hidden, not named as an image: never a file of the data set
    refused_before_compiling(suite.run(model),
                             r"resnetc: data error: .*c3/notes\.txt: not a PNG or JPEG image \(its name ends in "
                             r"neither \.png, \.jpg nor \.jpeg\); move it out of the class folder; --skip-bad-images "
                             r"leaves out every file that is not a readable image")
    os.rename(notes, suite.path("notes.txt"))
    refused_before_compiling(suite.run(model), r"resnetc: data error: .*c2/\d+\.png: not a readable PNG: .*")
    os.rename(suite.path("notes.txt"), notes)
    r = expect(suite.run([*model, "--skip-bad-images", "--checkpoint", suite.path("skipped.safetensors")]), 0,
               stdout=[r"^skipped 3 files that are not readable images \(--skip-bad-images\):\n"
                       r"  .*c3/notes\.txt: not a PNG or JPEG image .*\n"
                       r"  .*c2/\d+\.png: not a readable PNG: .*\n"
                       r"  .*val/c1/\d+\.png: neither a PNG nor a JPEG file .*\n"
                       r"training rgb10 on folder \(63 train / 19 test images\)",
                       r"epoch 1/1: loss"])
    r = expect(suite.run(["eval", RGB10, "--dataset", "folder", "--data", base, "--skip-bad-images",
                          "--weights", suite.path("skipped.safetensors"), *CPU]), 0,
               stdout=[r"^skipped 3 files", r"test acc [0-9.]+ \(19 images"])


@suite.test
def a_folder_of_300_classes_trains_with_labels_past_a_byte():
    """Labels 256..299 reach the loss: the network needs 300 outputs, and trains with them."""
    base = suite.path("classes300")
    for split, count in (("train", 2), ("val", 1)):
        for c in range(300):
            os.makedirs(os.path.join(base, split, f"k{c:03d}"))
            for i in range(count):
                with open(os.path.join(base, split, f"k{c:03d}", f"{i}.png"), "wb") as f:
                    f.write(png_bytes(4, 4, 1, bytes((c * 7 + i * 31 + p * 13) % 256 for p in range(16))))

    def net(classes):
        return suite.write(f"classes{classes}.net", f"""network classes{classes} {{
  input 1x8x8
  stem {{ conv 4 k3 p1; bn; relu }}
  head {{ avgpool; fc {classes} }}
  train {{
    epochs 2
    batch 100
    lr 0.05
  }}
}}
""")
    model = ["--dataset", "folder", "--data", base, *CPU]
    narrow = net(256)
    r = suite.run(["train", narrow, *model])
    expect(r, 1)
    check(re.search(r"classes256\.net:4:\d+: error: the classifier has 256 outputs, but the data set folder has labels "
                    r"up to 299 \(300 classes\): it needs at least 300 outputs", r.stderr) is not None,
          "a 256-output network was not refused for label 299", r)
    path = suite.path("classes300.safetensors")
    r = expect(suite.run(["train", net(300), *model, "--checkpoint", path]), 0,
               stdout=[r"training classes300 on folder \(600 train / 300 test images\)", r"epoch 2/2: loss"])
    names = class_names(path)
    check(len(names) == 300 and names[299] == "k299", f"class names {names[:3]} ... {names[-3:]}", r)
    expect(suite.run(["eval", suite.path("classes300.net"), *model, "--weights", path]), 0,
           stdout=r"test acc [0-9.]+ \(300 images")


@suite.test
def bench_times_the_input_pipeline_of_a_folder():
    """bench --data reads the folder's training images and batches one epoch, without training."""
    directory = write_image_folder(suite.path("bench-folder"), 40, 20)
    bench = ["bench", RGB10, "--dataset", "folder", "--data", directory, "--threads", "2"]
    r = expect(suite.run([*bench, "--mean", "0.5", "--std", "0.25"]), 0,
               stdout=[r"^input pipeline of rgb10 \(3x16x16, batch 32, normalized\) on folder, 2 threads\n",
                       r"\ndecoded and resized 40 images of .*bench-folder/train in [0-9.]+ s: [0-9.]+ images/sec\n",
                       r"\nassembled 2 batches in [0-9.]+ s: [0-9.]+ images/sec",
                       r"\n[0-9.]+ images/sec from the files to batches \(one epoch, 40 images in [0-9.]+ s\)\n$"])
    check("examples/sec" not in r.stdout and "kernels" not in r.stdout, "bench --data trained", r)
    r = expect(suite.run([*bench, "--image-size", "20", "--image-cache", "disk", "--image-cache-dir", suite.path()]),
               0, stdout=[r"^.*bench-folder/train's 40 images at 3x20x20 \(48\.0 kB\) are kept in a file in .*\n",
                          r"\ninput pipeline of rgb10 \(3x16x16, batch 32, kept at --image-size 20\) on folder"])
    expect(suite.run(["bench", TINY, "--data", IDX, "--image-size", "20"]), 1,
           r"resnetc: data error: --image-size is the size a folder's images are kept at; fashion-mnist's are kept "
           r"as its files hold them")
    expect(suite.run([*bench, "--mean", "0.5,0.4", "--std", "0.25"]), 1,
           r"resnetc: data error: --mean has 2 values, but the data set's images have 3 channels: .*")
    expect(suite.run(["bench", TINY, "--data", IDX, "--batch", "16"]), 0,
           stdout=[r"read 96 train and 32 test images of .*idx in", r"assembled 6 batches in"])
    victim = os.path.join(directory, "train", "c1", sorted(os.listdir(os.path.join(directory, "train", "c1")))[0])
    with open(victim, "r+b") as f:
        f.truncate(60)
    expect(suite.run(bench), 1, r"resnetc: data error: .*c1/\d+\.png: not a readable PNG: .*")


suite.main()
