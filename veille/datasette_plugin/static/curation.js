// Veille — the curator's workspace: keyboard, decisions without a page reload, tag suggestions,
// the words behind each tag. Every action also works without this script (plain forms).
(function () {
  "use strict";

  const items = () => Array.from(document.querySelectorAll("#items > .item"));
  let current = null;

  function setCurrent(item, scroll) {
    if (!item) return;
    if (current) current.classList.remove("current");
    current = item;
    item.classList.add("current");
    if (scroll) {
      item.scrollIntoView({ block: "nearest" });
      item.focus({ preventScroll: true });
    }
  }

  function move(step) {
    const list = items();
    if (!list.length) return;
    const index = current ? list.indexOf(current) : -1;
    const next = index < 0 ? list[0] : list[Math.min(list.length - 1, Math.max(0, index + step))];
    setCurrent(next, true);
  }

  // ------------------------------------------------------------ toast

  let toastTimer = null;
  function toast(message, bad) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.classList.toggle("bad", !!bad);
    box.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => box.classList.remove("shown"), bad ? 6000 : 2500);
  }

  // ------------------------------------------------------------ decisions

  function replaceItems(fragments) {
    const currentId = current && current.dataset.id;
    for (const [id, html] of Object.entries(fragments || {})) {
      const old = document.getElementById("item-" + id);
      if (!old) continue;
      const holder = document.createElement("div");
      holder.innerHTML = html.trim();
      const fresh = holder.firstElementChild;
      old.replaceWith(fresh);
      if (id === currentId) current = null;
    }
    if (currentId) setCurrent(document.getElementById("item-" + currentId), false);
  }

  async function submitDecision(form, submitter) {
    const item = form.closest(".item");
    if (item) setCurrent(item, false);
    const focusBack = item && item.contains(document.activeElement);
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST", body: new URLSearchParams(new FormData(form, submitter || null)),
        headers: { "Accept": "application/json" }, credentials: "same-origin",
      });
    } catch (e) {
      toast("Le serveur ne répond pas : rien n'a été enregistré.", true);
      return;
    }
    let answer = null;
    try { answer = await response.json(); } catch (e) { answer = null; }
    if (!answer) {
      toast("Réponse illisible du serveur : rechargez la page.", true);
      return;
    }
    if (response.status === 401) {
      window.location.href = "/-/curation/login";
      return;
    }
    if (!answer.ok) {
      if (answer.choices && form.classList.contains("add-tag")) {
        showSuggestions(form, answer.choices, answer.error);
      }
      replaceItems(answer.items);
      toast(answer.error, true);
      return;
    }
    replaceItems(answer.items);
    const counts = document.getElementById("counts");
    if (counts) {
      counts.innerHTML = "";
      counts.append(`${answer.total} article(s) collecté(s) cette semaine, `);
      const strong = document.createElement("strong");
      strong.textContent = answer.in_bulletin;
      counts.append(strong, " dans le bulletin.");
    }
    const approval = document.getElementById("approval");
    if (approval && answer.status) {
      const holder = document.createElement("div");
      holder.innerHTML = answer.status.trim();
      approval.replaceWith(holder.firstElementChild);
    }
    toast(answer.message, false);
    if (focusBack && current) current.focus({ preventScroll: true });
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.classList || !form.classList.contains("act")) return;
    event.preventDefault();
    const input = form.querySelector("input[name=add][type=text]");
    if (input) {
      const chosen = input.dataset.chosen;
      if (chosen) input.value = chosen;
      delete input.dataset.chosen;
      if (!input.value.trim()) { toast("Tapez une étiquette ou un lieu.", true); return; }
      closeSuggestions(form);
    }
    submitDecision(form, event.submitter);
  });

  // ------------------------------------------------------------ suggestions

  let suggestTimer = null;
  let suggestSerial = 0;

  function closeSuggestions(form) {
    const list = form.querySelector(".suggestions");
    if (list) list.remove();
    const input = form.querySelector("input[name=add][type=text]");
    if (input) input.setAttribute("aria-expanded", "false");
  }

  function showSuggestions(form, choices, hint) {
    closeSuggestions(form);
    const input = form.querySelector("input[name=add][type=text]");
    if (!input) return;
    const list = document.createElement("ul");
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.id = "suggestions-" + (form.closest(".item") || {}).id;
    if (hint) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = hint;
      list.append(li);
    }
    for (const choice of choices) {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.dataset.spec = choice.spec;
      li.textContent = choice.label;
      list.append(li);
    }
    if (!choices.length && !hint) return;
    form.append(list);
    input.setAttribute("aria-expanded", "true");
    input.setAttribute("aria-controls", list.id);
  }

  function pick(form, li) {
    const input = form.querySelector("input[name=add][type=text]");
    input.value = li.textContent;
    input.dataset.chosen = li.dataset.spec;
    closeSuggestions(form);
    form.requestSubmit();
  }

  document.addEventListener("input", (event) => {
    const input = event.target;
    if (input.name !== "add" || !input.closest(".add-tag")) return;
    delete input.dataset.chosen;
    const form = input.closest("form");
    clearTimeout(suggestTimer);
    const query = input.value.trim();
    if (query.length < 2) { closeSuggestions(form); return; }
    suggestTimer = setTimeout(async () => {
      const serial = ++suggestSerial;
      try {
        const response = await fetch("/-/curation/suggest?q=" + encodeURIComponent(query),
                                     { headers: { "Accept": "application/json" }, credentials: "same-origin" });
        const choices = await response.json();
        if (serial === suggestSerial && input.value.trim() === query) showSuggestions(form, choices, null);
      } catch (e) { /* suggestions are a help: typing the whole name still works */ }
    }, 120);
  });

  document.addEventListener("click", (event) => {
    const li = event.target.closest(".suggestions li[data-spec]");
    if (li) { pick(li.closest("form"), li); return; }
    const chip = event.target.closest(".why-button");
    if (chip) { explain(chip.closest(".tag"), true); return; }
    const item = event.target.closest("#items > .item");
    if (item) setCurrent(item, false);
    if (!event.target.closest(".suggestions")) {
      document.querySelectorAll(".add-tag").forEach(closeSuggestions);
    }
    if (event.target.closest(".close-help")) toggleHelp(false);
  });

  function moveSelection(form, step) {
    const options = Array.from(form.querySelectorAll(".suggestions li[data-spec]"));
    if (!options.length) return;
    let index = options.findIndex((li) => li.getAttribute("aria-selected") === "true");
    options.forEach((li) => li.setAttribute("aria-selected", "false"));
    index = index < 0 ? (step > 0 ? 0 : options.length - 1) : (index + step + options.length) % options.length;
    options[index].setAttribute("aria-selected", "true");
    const input = form.querySelector("input[name=add][type=text]");
    input.setAttribute("aria-activedescendant", "");
    options[index].scrollIntoView({ block: "nearest" });
  }

  // ------------------------------------------------------------ why: the words behind a tag

  function explain(tag, open) {
    const item = tag.closest(".item");
    const spec = tag.dataset.spec;
    item.querySelectorAll("mark.lit, .tag.lit, details.why li.lit").forEach((e) => e.classList.remove("lit"));
    item.querySelectorAll("mark[data-tags]").forEach((mark) => {
      if (mark.dataset.tags.split(" ").includes(spec)) mark.classList.add("lit");
    });
    tag.classList.add("lit");
    const line = item.querySelector(`details.why li[data-spec="${CSS.escape(spec)}"]`);
    if (line) line.classList.add("lit");
    if (open) item.querySelector("details.why").open = true;
  }

  document.addEventListener("mouseover", (event) => {
    const chip = event.target.closest && event.target.closest(".tag .why-button");
    if (chip) explain(chip.closest(".tag"), false);
  });

  // ------------------------------------------------------------ keyboard

  function toggleHelp(show) {
    const help = document.getElementById("help");
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) help.querySelector(".close-help").focus();
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target.matches && target.matches("input, textarea, select");
    if (typing) {
      const form = target.closest("form");
      if (target.name === "add" && form && form.classList.contains("add-tag")) {
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          event.preventDefault();
          moveSelection(form, event.key === "ArrowDown" ? 1 : -1);
          return;
        }
        if (event.key === "Enter") {
          const selected = form.querySelector(".suggestions li[aria-selected=true]");
          if (selected) { event.preventDefault(); pick(form, selected); }
          return;
        }
      }
      if (event.key === "Escape") {
        if (form) closeSuggestions(form);
        target.blur();
        if (current) current.focus({ preventScroll: true });
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const help = document.getElementById("help");
    if (event.key === "Escape" && help && !help.hidden) { toggleHelp(false); return; }
    if (event.key === "?") { event.preventDefault(); toggleHelp(); return; }
    if (event.key === "j") { move(1); return; }
    if (event.key === "k") { move(-1); return; }
    if (!current) return;
    const button = { h: ".highlight-button", x: ".reject-button" }[event.key];
    if (button) {
      event.preventDefault();
      const pressed = current.querySelector(button);
      pressed.form.requestSubmit(pressed);
      return;
    }
    const field = { t: ".add-tag input[name=add]", n: ".note-form input[name=note]" }[event.key];
    if (field) {
      event.preventDefault();
      const input = current.querySelector(field);
      input.focus();
      input.select();
    }
  });

  // The filters apply as soon as one is chosen (the « Filtrer » button stays for keyboards).
  document.addEventListener("change", (event) => {
    const form = event.target.closest && event.target.closest("form.filters[data-live]");
    if (form) form.submit();
  });

  document.addEventListener("DOMContentLoaded", () => {
    const hash = window.location.hash.match(/^#item-(\d+)$/);
    const first = hash ? document.getElementById("item-" + hash[1]) : null;
    if (first) setCurrent(first, true);
  });
})();
