// The builder's catalog (GET segments:builder_catalog) with lookups. Everything the builder offers
// comes from it, and the server derives it from segments.rules, so the two never disagree.

const DEFAULT_OPERATOR = {
  text: "contains",
  email: "contains",
  url: "contains",
  phone: "contains",
  choice: "equals",
  number: "gte",
  date: "in_last_days",
  boolean: "is_true",
  multi_choice: "contains_any",
  campaign: "equals",
};

export class Catalog {
  constructor(data, { ownGroup = "" } = {}) {
    this.data = data;
    this.fields = new Map(); // "country", "custom.plan", "account.name" → item (with section)
    this.pickerOptions = [];
    this.optgroups = [];
    for (const section of data.sections) {
      this.optgroups.push({ value: section.key, label: section.label });
      for (const item of section.items) {
        if (item.kind === "membership" && item.group === ownGroup) continue;
        const option = { ...item, section: section.key, sectionLabel: section.label, value: Catalog.key(item) };
        option.text = item.label;
        this.pickerOptions.push(option);
        if (item.kind === "field") this.fields.set(item.field, option);
      }
    }
    this.activityTypes = new Map(data.activity.types.map((t) => [t.value, t.label]));
    this.whereFields = data.activity.where_fields;
    this.consents = new Map(data.consents.map((c) => [c.value, c.label]));
    this.groups = new Map(data.groups.map((g) => [g.value, g.label]));
    this.campaigns = data.campaigns;
    this.templates = data.templates || [];
    this.limits = data.limits;
    this.relativeOperators = data.relative_operators;
  }

  /** The picker value of a catalog item or of a tree node. */
  static key(item) {
    switch (item.kind || item.type) {
      case "field":
        return `field:${item.field}`;
      case "activity":
        return `activity:${item.activity}`;
      case "consent":
        return `consent:${item.consent}`;
      case "membership":
        return `membership:${item.group}`;
      default:
        return "";
    }
  }

  option(key) {
    return this.pickerOptions.find((o) => o.value === key) || null;
  }

  operators(type) {
    return this.data.operators[type] || [];
  }

  operator(type, op) {
    return this.operators(type).find((o) => o.value === op) || null;
  }

  defaultOperator(type) {
    const ops = this.operators(type);
    const preferred = DEFAULT_OPERATOR[type];
    return (ops.find((o) => o.value === preferred) || ops[0] || { value: "equals" }).value;
  }

  /** The catalog entry of an activity `where` field ("url", "campaign", "data.plan" → the "data." entry). */
  whereField(name) {
    if (typeof name !== "string") return null;
    if (name.startsWith("data.")) return this.whereFields.find((w) => w.keyed) || null;
    return this.whereFields.find((w) => w.field === name) || null;
  }
}

export async function loadCatalog(url, options) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`The field catalog could not be loaded (${response.status}).`);
  return new Catalog(await response.json(), options);
}
